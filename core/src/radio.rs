//! Radio: LoRa configuration, time on air, duty cycle.
