//! Who hears whom on `airswarm air`: everyone, positions (path loss decides) or an explicit
//! link table, and the parsers of the `--positions` and `--links` files.

use std::collections::BTreeMap;

use super::codec::check_name;

/// Who can hear whom.
#[derive(Clone, Debug, PartialEq)]
pub enum Topology {
    /// Everyone in range of everyone (all radios at one spot).
    Open,
    /// Positions in metres by name; path loss decides. Unlisted names are refused.
    Positions(BTreeMap<String, (f64, f64)>),
    /// Symmetric links with a mean SNR in dB, keyed by (lesser name, greater name); only
    /// listed pairs hear each other. Names in no link are refused.
    Links(BTreeMap<(String, String), f64>),
}

impl Topology {
    pub(crate) fn knows(&self, name: &str) -> bool {
        match self {
            Topology::Open => true,
            Topology::Positions(p) => p.contains_key(name),
            Topology::Links(l) => l.keys().any(|(a, b)| a == name || b == name),
        }
    }

    pub(crate) fn file_kind(&self) -> &'static str {
        match self {
            Topology::Positions(_) => "positions",
            _ => "links",
        }
    }

    /// The links file: `NAME NAME SNR_DB` per line, `#` starts a comment, blank lines are
    /// skipped. Errors name the line.
    pub fn parse_links(text: &str) -> Result<Topology, String> {
        let mut links = BTreeMap::new();
        for (n, fields) in lines(text) {
            let [a, b, snr] = fields[..] else {
                return Err(format!(
                    "line {n}: expected `NAME NAME SNR_DB`, found {} fields",
                    fields.len()
                ));
            };
            for name in [a, b] {
                check_name(name).map_err(|e| format!("line {n}: bad name {e}"))?;
            }
            if a == b {
                return Err(format!("line {n}: a link from {a:?} to itself"));
            }
            let snr = number(snr, -60.0, 60.0).map_err(|e| format!("line {n}: SNR {e}"))?;
            let key = if a < b { (a, b) } else { (b, a) };
            let key = (key.0.to_string(), key.1.to_string());
            if links.insert(key, snr).is_some() {
                return Err(format!("line {n}: the link {a} {b} is listed twice"));
            }
        }
        if links.is_empty() {
            return Err("the links file lists no links".into());
        }
        Ok(Topology::Links(links))
    }

    /// The positions file: `NAME X_M Y_M` per line (metres), `#` comments.
    pub fn parse_positions(text: &str) -> Result<Topology, String> {
        let mut pos = BTreeMap::new();
        for (n, fields) in lines(text) {
            let [name, x, y] = fields[..] else {
                return Err(format!(
                    "line {n}: expected `NAME X_M Y_M`, found {} fields",
                    fields.len()
                ));
            };
            check_name(name).map_err(|e| format!("line {n}: bad name {e}"))?;
            let x = number(x, -1e7, 1e7).map_err(|e| format!("line {n}: X {e}"))?;
            let y = number(y, -1e7, 1e7).map_err(|e| format!("line {n}: Y {e}"))?;
            if pos.insert(name.to_string(), (x, y)).is_some() {
                return Err(format!("line {n}: {name:?} is listed twice"));
            }
        }
        if pos.is_empty() {
            return Err("the positions file lists no radios".into());
        }
        Ok(Topology::Positions(pos))
    }
}

/// Non-empty lines without comments, split on whitespace, numbered from 1.
fn lines(text: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    text.lines().enumerate().filter_map(|(i, l)| {
        let l = l.split('#').next().unwrap_or("");
        let f: Vec<&str> = l.split_whitespace().collect();
        (!f.is_empty()).then_some((i + 1, f))
    })
}

fn number(s: &str, lo: f64, hi: f64) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if !(lo..=hi).contains(&v) {
        return Err(format!("{s} is outside {lo}..={hi}"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_parse_symmetrically_with_comments() {
        let t = Topology::parse_links("# a chain\nA B 10\n\n  C   B -2.5 # weak\n").unwrap();
        let Topology::Links(l) = &t else { panic!() };
        assert_eq!(l.len(), 2);
        assert_eq!(l[&("B".to_string(), "C".to_string())], -2.5);
        assert!(t.knows("C") && !t.knows("D"));
    }

    #[test]
    fn bad_lines_are_named() {
        for (text, want) in [
            (
                "A B 1\nA B\n",
                "line 2: expected `NAME NAME SNR_DB`, found 2 fields",
            ),
            ("A B x\n", "line 1: SNR \"x\" is not a number"),
            ("A B 1\n#\nB A 2\n", "line 3: the link B A is listed twice"),
            ("A A 1\n", "line 1: a link from \"A\" to itself"),
            ("A B 99\n", "line 1: SNR 99 is outside -60..=60"),
            ("A B NaN\n", "line 1: SNR NaN is outside -60..=60"),
            ("# nothing\n", "the links file lists no links"),
        ] {
            assert_eq!(Topology::parse_links(text).unwrap_err(), want);
        }
        assert_eq!(
            Topology::parse_positions("A 0 0\nB 1 2 3\n").unwrap_err(),
            "line 2: expected `NAME X_M Y_M`, found 4 fields"
        );
        assert_eq!(
            Topology::parse_positions("A 0 inf\n").unwrap_err(),
            "line 1: Y inf is outside -10000000..=10000000"
        );
        let Topology::Positions(p) = Topology::parse_positions("A 0 0\nB 150.5 -3\n").unwrap()
        else {
            panic!()
        };
        assert_eq!(p["B"], (150.5, -3.0));
    }
}
