//! A deterministic discrete-event LoRa channel driving real mesh nodes.
