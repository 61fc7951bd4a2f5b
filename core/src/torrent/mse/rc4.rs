//! RC4 (ARCFOUR), the only stream cipher MSE/PE defines. It is broken as a cipher; MSE
//! uses it for obfuscation against traffic shaping, not for confidentiality.

/// One RC4 keystream. `apply` XORs it into data (encrypting and decrypting are the same).
#[derive(Clone)]
pub struct Rc4 {
    s: [u8; 256],
    i: u8,
    j: u8,
}

impl core::fmt::Debug for Rc4 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The state is key material.
        f.write_str("Rc4 { .. }")
    }
}

impl Rc4 {
    /// The key scheduling algorithm. `key` must be 1 to 256 bytes; MSE keys are 20.
    pub fn new(key: &[u8]) -> Rc4 {
        let mut s = [0u8; 256];
        for (i, v) in s.iter_mut().enumerate() {
            *v = i as u8;
        }
        if !key.is_empty() {
            let mut j = 0u8;
            for i in 0..256 {
                j = j.wrapping_add(s[i]).wrapping_add(key[i % key.len()]);
                s.swap(i, j as usize);
            }
        }
        Rc4 { s, i: 0, j: 0 }
    }

    /// XOR the next `data.len()` keystream bytes into `data`.
    pub fn apply(&mut self, data: &mut [u8]) {
        let (mut i, mut j) = (self.i, self.j);
        let s = &mut self.s;
        for b in data {
            i = i.wrapping_add(1);
            j = j.wrapping_add(s[i as usize]);
            s.swap(i as usize, j as usize);
            let k = s[(s[i as usize].wrapping_add(s[j as usize])) as usize];
            *b ^= k;
        }
        self.i = i;
        self.j = j;
    }

    /// Advance the keystream by `n` bytes without using them.
    pub fn discard(&mut self, n: usize) {
        let mut scratch = [0u8; 256];
        let mut left = n;
        while left > 0 {
            let k = left.min(scratch.len());
            self.apply(&mut scratch[..k]);
            left -= k;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6229 section 2, the 40-bit key 0x0102030405: offsets 0, 16, 1008 and 1024.
    #[test]
    fn rfc6229_key_0102030405() {
        let mut c = Rc4::new(&[1, 2, 3, 4, 5]);
        let mut ks = vec![0u8; 1040];
        c.apply(&mut ks);
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(hex(&ks[0..16]), "b2396305f03dc027ccc3524a0a1118a8");
        assert_eq!(hex(&ks[16..32]), "6982944f18fc82d589c403a47a0d0919");
        assert_eq!(hex(&ks[1008..1024]), "45129048e6a0ed0b56b490338f078da5");
        assert_eq!(hex(&ks[1024..1040]), "30abbcc7c20b01609f23ee2d5f6bb7df");
        // Discarding (what MSE does with the first 1024 bytes) lands on the same stream.
        let mut d = Rc4::new(&[1, 2, 3, 4, 5]);
        d.discard(1024);
        let mut next = [0u8; 16];
        d.apply(&mut next);
        assert_eq!(&next[..], &ks[1024..1040]);
    }

    #[test]
    fn applying_twice_restores_the_data() {
        let data: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
        let mut buf = data.clone();
        Rc4::new(b"key").apply(&mut buf);
        assert_ne!(buf, data);
        Rc4::new(b"key").apply(&mut buf);
        assert_eq!(buf, data);
    }
}
