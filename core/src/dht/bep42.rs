//! BEP 42 ("DHT Security Extension"): a node id's first 21 bits are tied to the node's IP
//! address through CRC32-C, so one IP cannot pick ids next to a target to eclipse it.
//! [`id_for`] makes a conforming id; [`is_valid`] checks one (local and private addresses
//! are exempt, as BEP 42 specifies). [`super::node::Config::enforce_node_id`] keeps
//! non-conforming nodes out of the routing table.

use std::net::Ipv4Addr;

use super::NodeId;

/// CRC32-C (Castagnoli, reflected polynomial 0x82F63B78), bitwise: four bytes per id.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The CRC of the masked address with the 3-bit `r` (BEP 42, IPv4 mask 0x030f3fff).
fn prefix_crc(ip: Ipv4Addr, r: u8) -> u32 {
    let masked = (u32::from(ip) & 0x030f_3fff) | ((r as u32 & 7) << 29);
    crc32c(&masked.to_be_bytes())
}

/// Addresses BEP 42 exempts: 10/8, 172.16/12, 192.168/16, 169.254/16, 127/8.
pub fn is_exempt(ip: Ipv4Addr) -> bool {
    ip.is_private() || ip.is_link_local() || ip.is_loopback()
}

/// A conforming id for `ip`, its free bits from `random` (the last byte carries `r`).
pub fn id_for(ip: Ipv4Addr, random: [u8; 20]) -> NodeId {
    let r = random[19] & 7;
    let crc = prefix_crc(ip, r);
    let mut id = random;
    id[0] = (crc >> 24) as u8;
    id[1] = (crc >> 16) as u8;
    id[2] = ((crc >> 8) as u8 & 0xf8) | (random[2] & 7);
    NodeId(id)
}

/// Whether `id` conforms for a node at `ip` (always true for exempt addresses).
pub fn is_valid(id: &NodeId, ip: Ipv4Addr) -> bool {
    if is_exempt(ip) {
        return true;
    }
    let crc = prefix_crc(ip, id.0[19] & 7);
    id.0[0] == (crc >> 24) as u8
        && id.0[1] == (crc >> 16) as u8
        && id.0[2] & 0xf8 == (crc >> 8) as u8 & 0xf8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bep42_test_vectors() {
        // BEP 42's table: IP, rand, and the first three bytes of the example ids (the
        // last 3 bits of the third byte are random) and last byte = rand.
        let cases = [
            ("124.31.75.21", 1u8, [0x5f, 0xbf, 0xbf]),
            ("21.75.31.124", 86, [0x5a, 0x3c, 0xe9]),
            ("65.23.51.170", 22, [0xa5, 0xd4, 0x32]),
            ("84.124.73.14", 65, [0x1b, 0x03, 0x21]),
            ("43.213.53.83", 90, [0xe5, 0x6f, 0x6c]),
        ];
        for (ip, rand, prefix) in cases {
            let ip: Ipv4Addr = ip.parse().unwrap();
            let mut random = [0u8; 20];
            random[19] = rand;
            random[2] = prefix[2] & 7;
            let id = id_for(ip, random);
            assert_eq!(id.0[..3], prefix, "{ip}");
            assert!(is_valid(&id, ip));
            let mut bad = id;
            bad.0[0] ^= 1;
            assert!(!is_valid(&bad, ip));
        }
        assert!(is_valid(&NodeId([0; 20]), "127.0.0.1".parse().unwrap()));
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }
}
