//! The message counter: 24-bit message ids and sealing nonces come from it, so it never
//! wraps, and the host is asked to persist a reservation above it.

use super::*;

/// Counter values reserved per persisted block.
pub(super) const COUNTER_BLOCK: u64 = 1024;

/// The message counter stops here: past it a send is refused ([`MeshError::CounterExhausted`])
/// instead of wrapping to 0, which would reuse message ids and sealing nonces. The margin
/// keeps the persisted reservation (`counter + COUNTER_BLOCK`) from overflowing.
pub const MAX_COUNTER: u64 = u64::MAX - 2 * COUNTER_BLOCK;

/// Highest `first_counter` a node accepts: it leaves 2^32 messages before [`MAX_COUNTER`].
pub const MAX_FIRST_COUNTER: u64 = MAX_COUNTER - (1 << 32);

impl Node {
    pub(super) fn reserve_counter(&mut self) {
        if self.counter >= self.persisted_until {
            self.persisted_until = self.counter + COUNTER_BLOCK;
            self.events.push_back(Event::PersistCounter {
                next: self.persisted_until,
            });
        }
    }

    /// Take the next value of the message counter without sending a message (handshakes
    /// use it as their monotonic sequence).
    pub fn next_counter(&mut self) -> Result<u64, MeshError> {
        let c = self.counter;
        self.next_id()?;
        Ok(c)
    }

    pub(super) fn next_id(&mut self) -> Result<u32, MeshError> {
        if self.counter >= MAX_COUNTER {
            return Err(MeshError::CounterExhausted);
        }
        let id = (self.counter & 0xFF_FFFF) as u32;
        self.counter += 1;
        self.reserve_counter();
        Ok(id)
    }
}

#[cfg(test)]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counter_stops_instead_of_wrapping() {
        let mut node = Node::new(NodeConfig {
            first_counter: MAX_FIRST_COUNTER,
            ..NodeConfig::default()
        })
        .unwrap();
        // 2^32 sends later the counter is here; put it there directly.
        node.counter = MAX_COUNTER - 1;
        assert_eq!(
            node.send(Instant(0), Address::BROADCAST, b"last"),
            Ok(((MAX_COUNTER - 1) & 0xFF_FFFF) as u32)
        );
        assert_eq!(
            node.send(Instant(0), Address::BROADCAST, b"one too many"),
            Err(MeshError::CounterExhausted)
        );
        assert_eq!(node.next_counter(), Err(MeshError::CounterExhausted));
        assert_eq!(node.counter, MAX_COUNTER, "no id was reused");
    }

    #[test]
    fn the_host_is_asked_to_persist_a_reservation_ahead_of_the_counter() {
        let mut node = Node::new(NodeConfig {
            first_counter: 100,
            ..NodeConfig::default()
        })
        .unwrap();
        assert_eq!(
            node.poll_event(),
            Some(Event::PersistCounter {
                next: 100 + COUNTER_BLOCK
            })
        );
        for _ in 0..COUNTER_BLOCK - 1 {
            node.next_counter().unwrap();
        }
        assert_eq!(node.poll_event(), None, "still inside the reservation");
        assert_eq!(node.next_counter(), Ok(100 + COUNTER_BLOCK - 1));
        assert_eq!(
            node.poll_event(),
            Some(Event::PersistCounter {
                next: 100 + 2 * COUNTER_BLOCK
            })
        );
    }
}
