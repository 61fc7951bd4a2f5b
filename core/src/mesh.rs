//! The LoRa mesh: wire format, flooding, fragmentation, the node.
