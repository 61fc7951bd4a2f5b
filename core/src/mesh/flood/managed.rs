//! Meshtastic's managed flooding (firmware src/mesh/FloodingRouter.cpp and
//! RadioInterface.cpp): a contention window that grows with the SNR a frame was received
//! at, so far receivers rebroadcast first, and a queued rebroadcast is dropped as soon as
//! anyone else's is heard. Also from the firmware: ACKs get the hop limit
//! src/modules/RoutingModule.cpp gives responses, and a broadcast whose sender hears
//! no neighbour rebroadcast it is sent again (src/mesh/ReliableRouter.cpp treats a heard
//! rebroadcast as an implicit ACK and retransmits otherwise, up to NUM_RELIABLE_RETX = 3
//! transmissions in all; here one resend).
//!
//!
//! Device roles ([`Role`], firmware config.device.role) change the relay decision:
//! - CLIENT (the default): the delay above, and a heard copy cancels ours.
//! - ROUTER: rebroadcasts in the early window, delay = random(0, 2·CWsize) slots with no
//!   2·CWmax offset (src/mesh/RadioInterface.cpp shouldRebroadcastEarlyLikeRouter and
//!   getTxDelayMsecWeighted), and a heard copy never cancels its own
//!   (src/mesh/FloodingRouter.cpp perhapsCancelDupe exempts ROUTER, REPEATER, ROUTER_LATE).
//! - ROUTER_LATE: the client's delay, never cancelled, but a heard copy pushes its queued
//!   rebroadcast out to now + the worst client delay at its SNR (2·CWmax + 2^CWsize slots:
//!   RadioLibInterface.cpp clampToLateRebroadcastWindow with
//!   RadioInterface.cpp getTxDelayMsecWeightedWorst), so it always relays once, after the
//!   clients.
//! - CLIENT_MUTE: never rebroadcasts (FloodingRouter.cpp isRebroadcaster); it still sends
//!   and acknowledges its own messages.
//!
//! Also followed (each in the node module that owns the mechanism, switched on here):
//! - retransmissions (src/mesh/NextHopRouter.h NUM_RELIABLE_RETX = 3): our own
//!   acknowledged message is sent at most 3 times, and so is an unheard broadcast
//!   (ReliableRouter.cpp send / shouldFilterReceived: a heard rebroadcast is the implicit
//!   ACK that stops them);
//! - next-hop routing of direct messages (NextHopRouter.cpp, 2.6+; `node/nexthop.rs`): the
//!   next hop towards a node is learned from its ACKs that came back through a neighbour
//!   that also relayed the message (sniffReceived), a direct message with a known next
//!   hop is relayed by that neighbour only (perhapsRebroadcast), a relay that does not
//!   hear its next hop pass it on retransmits once, flooding (NUM_INTERMEDIATE_RETX = 2,
//!   doRetransmissions), and the sender's last retry floods and forgets the next hop;
//! - the transmit queue (RadioLibInterface.cpp setTransmitDelay / onNotify
//!   TRANSMIT_DELAY_COMPLETED; `node/txqueue.rs`): our own frames wait random(0, 2^CWsize)
//!   slots (RadioInterface.cpp getTxDelayMsec, CWsize from channel utilisation: CWmin
//!   below 20 %, which is assumed here), a frame whose time comes while the radio is
//!   receiving or sending stays queued, cancellable, and draws its delay again (weighted
//!   by its SNR for relays, getTxDelayMsecWeighted);
//! - the hop-limit upgrade (FloodingRouter.cpp perhapsHandleUpgradedPacket): a duplicate
//!   heard with more hops left than our queued copy replaces it (and its delay is drawn
//!   again from the new copy's SNR, as perhapsRebroadcast does).
//!
//! Not followed: the REPEATER and CLIENT_BASE roles, ROUTER's default rebroadcast mode
//! CORE_PORTNUMS_ONLY (NodeDB.cpp; this mesh has one port, so it changes nothing here),
//! the implicit ACK that stops a sender's retries of a direct message once any relay is
//! heard (ReliableRouter.cpp; ours retries until the end-to-end ACK), the firmware's
//! retransmission timer (getRetransmissionMsec; ours waits for a round trip), the later
//! next-hop safeguards (route health and relay-byte uniqueness, after 2.6), and a
//! contention window that grows with channel utilisation.

use core::fmt;

use super::{CW_MAX, CW_MIN, CopyHeard, FloodPolicy, Mechanisms, Strategy, link_weight};
use crate::mesh::node::MeshError;
use crate::rng::Rng;

/// A Meshtastic device role (firmware config.device.role), as far as flooding goes.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[default]
    Client,
    ClientMute,
    Router,
    RouterLate,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Client,
        Role::ClientMute,
        Role::Router,
        Role::RouterLate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::ClientMute => "client_mute",
            Role::Router => "router",
            Role::RouterLate => "router_late",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl core::str::FromStr for Role {
    type Err = MeshError;
    fn from_str(s: &str) -> Result<Self, MeshError> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| MeshError::UnknownRole(s.to_string()))
    }
}

/// Transmissions of a reliable message in all (NextHopRouter.h): the first and 2 retries.
pub const NUM_RELIABLE_RETX: u8 = 3;
/// Transmissions by a relay of a frame handed to it (NextHopRouter.h): the hand-over and
/// one retransmission, which floods.
pub const NUM_INTERMEDIATE_RETX: u8 = 2;

#[derive(Clone, Copy, Debug, Default)]
pub struct Managed {
    pub role: Role,
}

impl Managed {
    /// CWsize = map(snr, SNR_MIN, SNR_MAX, CWmin, CWmax) (RadioInterface.cpp getCWsize).
    pub fn contention_window(snr_db: f64) -> u32 {
        CW_MIN + (link_weight(snr_db) * (CW_MAX - CW_MIN) as f64) as u32
    }
}

impl FloodPolicy for Managed {
    fn strategy(&self) -> Strategy {
        Strategy::Managed
    }

    fn role(&self) -> Role {
        self.role
    }

    fn mechanisms(&self) -> Mechanisms {
        Mechanisms {
            resend_unheard_broadcasts: true,
            ..Mechanisms::default()
        }
    }

    fn max_delay_slots(&self) -> f64 {
        (2 * CW_MAX + (1 << CW_MAX)) as f64
    }

    /// Client delay = 2·CWmax·slot + random(0, 2^CWsize)·slot; a ROUTER's is
    /// random(0, 2·CWsize)·slot (RadioInterface.cpp getTxDelayMsecWeighted).
    fn delay_slots(&self, snr_db: f64, _floor_db: f64, rng: &mut Rng) -> f64 {
        let cw = Self::contention_window(snr_db);
        if self.role == Role::Router {
            rng.below(2 * u64::from(cw)) as f64
        } else {
            (2 * CW_MAX) as f64 + rng.below(1 << cw) as f64
        }
    }

    /// A client's queued rebroadcast is cancelled by any copy heard; routers keep theirs
    /// (FloodingRouter.cpp perhapsCancelDupe).
    fn cancels(&self, _copy: &CopyHeard, _heard: &mut u16) -> bool {
        matches!(self.role, Role::Client | Role::ClientMute)
    }

    /// CLIENT_MUTE never rebroadcasts (FloodingRouter.cpp isRebroadcaster).
    fn relays(&self) -> bool {
        self.role != Role::ClientMute
    }

    /// ROUTER_LATE: a copy heard moves ours to now + the worst client delay at the SNR
    /// we received it at (RadioLibInterface.cpp clampToLateRebroadcastWindow,
    /// RadioInterface.cpp getTxDelayMsecWeightedWorst).
    fn postpone_slots(&self, own_snr_db: f64) -> Option<f64> {
        (self.role == Role::RouterLate)
            .then(|| (2 * CW_MAX + (1 << Self::contention_window(own_snr_db))) as f64)
    }

    /// NUM_RELIABLE_RETX transmissions in all (ReliableRouter.cpp send).
    fn retries(&self, _configured: u8) -> u8 {
        NUM_RELIABLE_RETX - 1
    }

    /// A broadcast nobody was heard rebroadcasting is retransmitted like any reliable
    /// packet (ReliableRouter.cpp): NUM_RELIABLE_RETX transmissions in all.
    fn unheard_broadcast_resends(&self) -> u8 {
        NUM_RELIABLE_RETX - 1
    }

    /// NextHopRouter.cpp doRetransmissions: a relay's only retransmission floods.
    fn handoffs_before_flooding(&self) -> Option<u8> {
        Some(NUM_INTERMEDIATE_RETX - 1)
    }

    fn next_hop_routing(&self) -> bool {
        true
    }

    /// FloodingRouter.cpp perhapsHandleUpgradedPacket (RadioLibInterface.cpp
    /// removePendingTXPacket).
    fn upgrades_queued_copy(&self) -> bool {
        true
    }

    /// RadioLibInterface.cpp onNotify TRANSMIT_DELAY_COMPLETED: `if (!canSendImmediately())
    /// setTransmitDelay();` (and after each transmission, ISR_TX).
    fn redraws_when_busy(&self, _cancellable: bool) -> bool {
        true
    }

    /// RadioInterface.cpp getTxDelayMsec: random(0, 2^CWsize) slots, CWsize = CWmin at low
    /// channel utilisation. (A retransmission goes the same way: NextHopRouter.cpp
    /// doRetransmissions → FloodingRouter::send → RadioLibInterface::send → setTransmitDelay,
    /// so [`FloodPolicy::resend_delay_slots`] keeps its default.)
    fn own_delay_slots(&self, rng: &mut Rng) -> Option<f64> {
        Some(rng.below(1 << CW_MIN) as f64)
    }

    /// RoutingModule.cpp getHopLimitForResponse: the hops the request used plus two,
    /// unless that reaches the configured limit (or the request came from farther).
    fn ack_hop_limit(&self, hops_taken: u8, hop_limit: u8) -> u8 {
        if hops_taken > hop_limit {
            hops_taken
        } else if hops_taken.saturating_add(2) < hop_limit {
            hops_taken + 2
        } else {
            hop_limit
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_links_draw_from_a_smaller_window() {
        assert_eq!(Managed::contention_window(-30.0), CW_MIN);
        assert_eq!(Managed::contention_window(10.0), CW_MAX);
        let mut rng = Rng::new(1);
        for _ in 0..200 {
            let weak = Managed::default().delay_slots(-20.0, -7.5, &mut rng);
            assert!((16.0..24.0).contains(&weak), "{weak}");
            let strong = Managed::default().delay_slots(10.0, -7.5, &mut rng);
            assert!((16.0..272.0).contains(&strong), "{strong}");
        }
    }

    #[test]
    fn the_first_copy_heard_cancels() {
        let copy = CopyHeard {
            copy_snr_db: -19.0,
            own_snr_db: 5.0,
            floor_db: -7.5,
            direct: false,
            density: 0.5,
            waiting_child: true,
            from_source: false,
        };
        let mut heard = 0;
        assert!(Managed::default().cancels(&copy, &mut heard));
        assert_eq!(Managed::default().hop_limit_to(Some(1), 3), 3);
    }

    #[test]
    fn acks_travel_the_hops_used_plus_two_as_the_firmware_answers() {
        // Hop limit 7: a neighbour's request is answered with 2 hops, a 4-hop one with 6.
        assert_eq!(Managed::default().ack_hop_limit(0, 7), 2);
        assert_eq!(Managed::default().ack_hop_limit(4, 7), 6);
        // hops + 2 reaching the limit: the configured limit.
        assert_eq!(Managed::default().ack_hop_limit(5, 7), 7);
        assert_eq!(Managed::default().ack_hop_limit(1, 3), 3);
        // A request from farther than our limit allows is answered as far.
        assert_eq!(Managed::default().ack_hop_limit(9, 7), 9);
    }

    #[test]
    fn an_unheard_broadcast_is_sent_again_as_reliable_router_does() {
        assert!(Managed::default().mechanisms().resend_unheard_broadcasts);
        let m = Managed::default().mechanisms();
        assert!(!m.routing && !m.pulls && !m.parents);
    }

    fn copy() -> CopyHeard {
        CopyHeard {
            copy_snr_db: 0.0,
            own_snr_db: 0.0,
            floor_db: -7.5,
            direct: false,
            density: 1.0,
            waiting_child: false,
            from_source: false,
        }
    }

    #[test]
    fn a_router_rebroadcasts_in_the_early_window_and_keeps_its_copy() {
        let router = Managed { role: Role::Router };
        let mut rng = Rng::new(3);
        let mut most = 0.0f64;
        for _ in 0..500 {
            // CWsize 8 at SNR 10: random(0, 16) slots, before any client's 16-slot offset.
            let d = router.delay_slots(10.0, -7.5, &mut rng);
            assert!((0.0..16.0).contains(&d), "{d}");
            // CWsize 3 at SNR -20: random(0, 6).
            assert!(router.delay_slots(-20.0, -7.5, &mut rng) < 6.0);
            most = most.max(d);
        }
        assert_eq!(most, 15.0);
        assert!(router.delay_slots(10.0, -7.5, &mut rng) <= router.max_delay_slots());
        assert!(!router.cancels(&copy(), &mut 0));
        assert!(router.relays());
        assert_eq!(router.postpone_slots(0.0), None);
        assert_eq!(router.role(), Role::Router);
    }

    #[test]
    fn a_late_router_waits_like_a_client_and_a_copy_pushes_it_past_the_clients() {
        let late = Managed {
            role: Role::RouterLate,
        };
        let mut rng = Rng::new(4);
        for _ in 0..200 {
            let d = late.delay_slots(-20.0, -7.5, &mut rng);
            assert!((16.0..24.0).contains(&d), "{d}");
        }
        assert!(!late.cancels(&copy(), &mut 0));
        assert!(late.relays());
        // Worst client delay: 2·CWmax + 2^CWsize slots.
        assert_eq!(late.postpone_slots(-20.0), Some(16.0 + 8.0));
        assert_eq!(late.postpone_slots(10.0), Some(16.0 + 256.0));
        assert_eq!(late.postpone_slots(10.0), Some(late.max_delay_slots()));
    }

    #[test]
    fn a_muted_client_never_rebroadcasts_and_a_client_is_the_default() {
        let mute = Managed {
            role: Role::ClientMute,
        };
        assert!(!mute.relays());
        assert!(Managed::default().relays());
        assert_eq!(Managed::default().role, Role::Client);
        assert_eq!(Managed::default().postpone_slots(0.0), None);
        assert!(Managed::default().cancels(&copy(), &mut 0));
    }

    #[test]
    fn the_firmware_retransmission_counts_and_queue_rules() {
        let m = Managed::default();
        // NUM_RELIABLE_RETX = 3 transmissions: the first and two retries, whatever the
        // node's own setting; as many for an unheard broadcast.
        assert_eq!(m.retries(3), 2);
        assert_eq!(m.retries(1), 2);
        assert_eq!(m.unheard_broadcast_resends(), 2);
        // A relay retransmits a handed-over frame once, and that one floods.
        assert_eq!(m.handoffs_before_flooding(), Some(1));
        assert!(m.next_hop_routing() && m.upgrades_queued_copy() && m.redraws_when_busy(false));
        let mut rng = Rng::new(2);
        for _ in 0..100 {
            let d = m.own_delay_slots(&mut rng).unwrap();
            assert!((0.0..8.0).contains(&d), "{d}");
        }
        // The other strategies keep their own rules.
        for s in [Strategy::Blind, Strategy::Airswarm] {
            let p = s.policy(crate::mesh::node::AirswarmTuning::default(), Role::Client);
            assert_eq!(p.retries(3), 3);
            assert_eq!(p.unheard_broadcast_resends(), 1);
            assert!(!p.next_hop_routing() && !p.upgrades_queued_copy());
            // (airswarm keeps a flood relay due on a busy channel cancellable, as the
            // firmware does, and hands everything else to the radio)
            assert!(!p.redraws_when_busy(false));
            assert_eq!(p.redraws_when_busy(true), s == Strategy::Airswarm);
            assert_eq!(p.own_delay_slots(&mut rng), None);
        }
    }

    #[test]
    fn roles_parse_by_their_firmware_names() {
        for r in Role::ALL {
            assert_eq!(r.name().parse::<Role>(), Ok(r));
        }
        assert_eq!("router_late".parse::<Role>(), Ok(Role::RouterLate));
        assert!(matches!(
            "repeater".parse::<Role>(),
            Err(MeshError::UnknownRole(_))
        ));
    }
}
