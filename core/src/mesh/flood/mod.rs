//! Flooding policies: how a node decides when to rebroadcast what it hears and whether a
//! copy heard meanwhile cancels its own, and which of the node's mechanisms (routing,
//! pulls, parents) it turns on. One module per strategy; the [`Node`](super::Node) asks
//! its policy and never matches on the strategy itself.
//!
//! To add a strategy: a module with a type implementing [`FloodPolicy`], a [`Strategy`]
//! variant, and its line in [`Strategy::policy`].

pub mod airswarm;
pub mod blind;
pub mod managed;

use core::fmt;

pub use managed::Role;

use super::node::{AirswarmTuning, MeshError};
use crate::rng::Rng;

/// SNR range mapped onto the contention window (Meshtastic RadioInterface.cpp: SNR_MIN -20,
/// SNR_MAX 10, CWmin 3, CWmax 8).
pub const SNR_MIN_DB: f64 = -20.0;
pub const SNR_MAX_DB: f64 = 10.0;
pub const CW_MIN: u32 = 3;
pub const CW_MAX: u32 = 8;

/// How a node decides whether, and when, to rebroadcast what it hears.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Every node re-sends every new frame once after a random delay; hop limit only.
    Blind,
    /// Meshtastic's managed flooding (FloodingRouter.cpp / RadioInterface.cpp): an
    /// SNR-weighted contention window (far nodes first) and the queued copy is dropped as
    /// soon as anyone else's rebroadcast is heard.
    Managed,
    /// Ours: link-quality ordered delays, counter- and proximity-based suppression,
    /// learned neighbour density, relays kept for sparse neighbours that name us as
    /// their parent, cancellation once the destination acknowledged,
    /// replies whose hop limit fits the distance they must travel, and direct traffic
    /// handed hop by hop along learned routes (flooding when none is known or one fails).
    #[default]
    Airswarm,
}

impl Strategy {
    pub const ALL: [Strategy; 3] = [Strategy::Blind, Strategy::Managed, Strategy::Airswarm];

    pub fn name(self) -> &'static str {
        match self {
            Strategy::Blind => "blind",
            Strategy::Managed => "managed",
            Strategy::Airswarm => "airswarm",
        }
    }

    /// The policy a node with this strategy follows (`tuning` only matters to airswarm,
    /// `role` only to managed: Meshtastic's roles; the other strategies have none).
    pub fn policy(self, tuning: AirswarmTuning, role: Role) -> Box<dyn FloodPolicy> {
        match self {
            Strategy::Blind => Box::new(blind::Blind),
            Strategy::Managed => Box::new(managed::Managed { role }),
            Strategy::Airswarm => Box::new(airswarm::Airswarm { tuning }),
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl core::str::FromStr for Strategy {
    type Err = MeshError;
    fn from_str(s: &str) -> Result<Self, MeshError> {
        match s {
            "blind" => Ok(Strategy::Blind),
            "managed" => Ok(Strategy::Managed),
            "airswarm" => Ok(Strategy::Airswarm),
            other => Err(MeshError::UnknownStrategy(other.to_string())),
        }
    }
}

/// The node's own mechanisms a policy turns on (each lives in a `node/` module).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mechanisms {
    /// `node/routing.rs`: direct frames handed hop by hop along routes learned from
    /// traffic, replies sent back the way their request came, ACKs that wait briefly for
    /// a strong way back, and relays of direct frames dropped when the destination is
    /// known to be farther than the hops left.
    pub routing: bool,
    /// `node/pull.rs`: broadcasts name the latest other broadcast their sender has,
    /// broadcast frames are kept, and a node that lacks a named broadcast pulls it.
    pub pulls: bool,
    /// `node/neighbours.rs`: a node that hears at most one neighbour well names it as its
    /// parent in its floods; a parent keeps its relay while a child has not been heard.
    pub parents: bool,
    /// `node/txqueue.rs`: our own broadcast is sent again (up to
    /// [`FloodPolicy::unheard_broadcast_resends`] times) when no neighbour is heard passing
    /// it on within a relay window.
    pub resend_unheard_broadcasts: bool,
    /// `node/mod.rs`: a relay of a fragment with more to come waits until the source's
    /// burst is over (a half-duplex relay that talks mid-burst misses the rest).
    pub burst_aware_relays: bool,
    /// `node/coverage.rs`: relays of broadcasts name the neighbour their copy came from,
    /// so nodes learn who hears whom; a relay whose every well-heard neighbour is known to
    /// have the frame already (it sent it, or hears one who did) is dropped.
    pub coverage: bool,
}

/// A relay waiting to rebroadcast a frame hears another copy of it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CopyHeard {
    /// SNR (dB) of the copy just heard.
    pub copy_snr_db: f64,
    /// SNR (dB) at which we received the frame we would relay.
    pub own_snr_db: f64,
    /// The radio's demodulation floor (dB SNR) at its spreading factor.
    pub floor_db: f64,
    /// The frame is addressed to one node (acknowledged and retried end to end).
    pub direct: bool,
    /// Duplicates heard per new frame, on average, before this copy.
    pub density: f64,
    /// A neighbour that relies on us for floods has not been heard with this one (only
    /// computed when the policy turns on [`Mechanisms::parents`]).
    pub waiting_child: bool,
    /// The copy came from the frame's source itself, unrelayed (its resend when it heard
    /// nobody pass the frame on): it covers only what the first copy covered.
    pub from_source: bool,
}

/// What a strategy decides; everything else about a node is shared.
pub trait FloodPolicy: fmt::Debug + Send + Sync {
    fn strategy(&self) -> Strategy;

    /// The Meshtastic role this policy plays ([`Role::Client`] for strategies without roles).
    fn role(&self) -> Role {
        Role::Client
    }

    /// Whether this node rebroadcasts other nodes' frames at all.
    fn relays(&self) -> bool {
        true
    }

    /// When a copy heard does not cancel our queued rebroadcast: the contention slots,
    /// from now, before which it must not go out any more (`None`: keep its time).
    fn postpone_slots(&self, own_snr_db: f64) -> Option<f64> {
        let _ = own_snr_db;
        None
    }

    /// Mechanisms of the node this policy uses.
    fn mechanisms(&self) -> Mechanisms;

    /// Longest rebroadcast delay, in contention slots (for timeouts and windows).
    fn max_delay_slots(&self) -> f64;

    /// The window, in contention slots, that repair timers (end-to-end retries, NACKs,
    /// reassembly and duplicate memory) allow per hop. It is the relay window unless the
    /// policy's first copies go out much sooner than its repairs may take.
    fn repair_window_slots(&self) -> f64 {
        self.max_delay_slots()
    }

    /// The delay before rebroadcasting a frame received at `snr_db`, in contention slots
    /// (`floor_db`: the radio's demodulation floor at its spreading factor).
    fn delay_slots(&self, snr_db: f64, floor_db: f64, rng: &mut Rng) -> f64;

    /// Whether the copy just heard cancels our pending rebroadcast. `heard` is the
    /// policy's count of copies heard for this frame so far, kept with the queued frame.
    fn cancels(&self, copy: &CopyHeard, heard: &mut u16) -> bool;

    /// Hop limit of a new message or NACK to a node known to be `route_hops` away.
    fn hop_limit_to(&self, route_hops: Option<u8>, hop_limit: u8) -> u8 {
        let _ = route_hops;
        hop_limit
    }

    /// Hop limit of an ACK for a message that took `hops_taken` hops to reach us.
    fn ack_hop_limit(&self, hops_taken: u8, hop_limit: u8) -> u8 {
        let _ = hops_taken;
        hop_limit
    }

    /// Retries of our own acknowledged message after the first send (`configured`: the
    /// node's `max_retries`).
    fn retries(&self, configured: u8) -> u8 {
        configured
    }

    /// How many times our own broadcast is sent again when no neighbour is heard passing
    /// it on (with [`Mechanisms::resend_unheard_broadcasts`]).
    fn unheard_broadcast_resends(&self) -> u8 {
        1
    }

    /// Hand-overs of a routed frame to a silent next hop before it is flooded from here
    /// (`None`: the node's own limit).
    fn handoffs_before_flooding(&self) -> Option<u8> {
        None
    }

    /// Direct messages are routed by next hops learned only from ACKs that came back
    /// through a neighbour that also relayed the message (Meshtastic's NextHopRouter),
    /// instead of the node's routing mechanism.
    fn next_hop_routing(&self) -> bool {
        false
    }

    /// A duplicate with more hops left than our queued copy replaces it.
    fn upgrades_queued_copy(&self) -> bool {
        false
    }

    /// Whether a frame whose time comes while the radio is busy (receiving a frame heard
    /// starting, or sending our previous one) stays queued, cancellable, and draws its
    /// delay again; otherwise it is handed to the radio, which waits for the channel.
    /// `cancellable`: the frame is a relay a copy heard may still cancel (not our own,
    /// not one handed to us by name).
    fn redraws_when_busy(&self, cancellable: bool) -> bool {
        let _ = cancellable;
        false
    }

    /// The delay before our own frame goes out, in contention slots (`None`: at once).
    fn own_delay_slots(&self, rng: &mut Rng) -> Option<f64> {
        let _ = rng;
        None
    }

    /// The delay, in contention slots, before our own flood goes out again when no
    /// neighbour was heard passing it on (see [`Mechanisms::resend_unheard_broadcasts`]).
    /// It must be drawn: the likeliest reason nobody passed it on is that it collided
    /// with a frame sent at the same moment by a node we cannot hear, and that node's
    /// own resend comes after the same fixed wait, so without a fresh draw the two
    /// collide again. By default the delay of our own frames.
    fn resend_delay_slots(&self, rng: &mut Rng) -> f64 {
        self.own_delay_slots(rng).unwrap_or(0.0)
    }
}

/// Link quality in [0, 1]: 0 at or below [`SNR_MIN_DB`], 1 at or above [`SNR_MAX_DB`].
pub fn link_weight(snr_db: f64) -> f64 {
    ((snr_db - SNR_MIN_DB) / (SNR_MAX_DB - SNR_MIN_DB)).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_strategy_names_its_policy_and_parses_back() {
        for s in Strategy::ALL {
            let p = s.policy(AirswarmTuning::default(), Role::Client);
            assert_eq!(p.strategy(), s);
            assert_eq!(s.name().parse::<Strategy>(), Ok(s));
        }
        assert!(matches!(
            "flood".parse::<Strategy>(),
            Err(MeshError::UnknownStrategy(_))
        ));
    }

    #[test]
    fn link_weight_spans_the_meshtastic_snr_range() {
        assert_eq!(link_weight(-30.0), 0.0);
        assert_eq!(link_weight(SNR_MIN_DB), 0.0);
        assert_eq!(link_weight(-5.0), 0.5);
        assert_eq!(link_weight(SNR_MAX_DB), 1.0);
        assert_eq!(link_weight(20.0), 1.0);
    }

    #[test]
    fn every_delay_fits_the_longest_delay() {
        let mut rng = Rng::new(7);
        for s in Strategy::ALL {
            let p = s.policy(AirswarmTuning::default(), Role::Client);
            for i in 0..200 {
                let snr = -25.0 + f64::from(i % 40);
                let d = p.delay_slots(snr, -7.5, &mut rng);
                assert!(d >= 0.0 && d <= p.max_delay_slots(), "{s}: {d}");
            }
        }
    }
}
