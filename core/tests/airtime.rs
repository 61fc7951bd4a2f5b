//! Time on air against an independent, straight-from-the-datasheet floating-point
//! implementation of the Semtech formula, over every parameter combination.

use airswarm_core::radio::{BANDWIDTHS_HZ, Ldro, LoRaConfig};

/// Written separately from the library (f64, symbol by symbol, as the datasheet reads).
#[allow(clippy::too_many_arguments)]
fn reference_ms(
    sf: u32,
    bw_hz: f64,
    cr: u32,
    preamble: u32,
    implicit: bool,
    crc: bool,
    ldro: Ldro,
    pl: u32,
) -> f64 {
    let t_sym = 2f64.powi(sf as i32) / bw_hz * 1000.0; // ms
    let de = match ldro {
        Ldro::On => 1.0,
        Ldro::Off => 0.0,
        Ldro::Auto => {
            if t_sym > 16.0 {
                1.0
            } else {
                0.0
            }
        }
    };
    let ih = if implicit { 1.0 } else { 0.0 };
    let crc = if crc { 1.0 } else { 0.0 };
    let t_preamble = (preamble as f64 + 4.25) * t_sym;
    let n = (8.0 * pl as f64 - 4.0 * sf as f64 + 28.0 + 16.0 * crc - 20.0 * ih)
        / (4.0 * (sf as f64 - 2.0 * de));
    let n_payload = 8.0 + (n.ceil() * (cr as f64)).max(0.0);
    t_preamble + n_payload * t_sym
}

#[test]
fn agrees_with_independent_formula_everywhere() {
    let mut checked = 0;
    for sf in 5..=12u8 {
        for &bw in &BANDWIDTHS_HZ {
            for cr in 5..=8u8 {
                for implicit in [false, true] {
                    for crc in [false, true] {
                        for ldro in [Ldro::Auto, Ldro::On, Ldro::Off] {
                            for preamble in [6u16, 8, 12, 32] {
                                for pl in [0usize, 1, 12, 13, 51, 100, 222, 254, 255] {
                                    let cfg = LoRaConfig {
                                        spreading_factor: sf,
                                        bandwidth_hz: bw,
                                        coding_rate: cr,
                                        preamble_len: preamble,
                                        implicit_header: implicit,
                                        crc,
                                        ldro,
                                        ..LoRaConfig::default()
                                    };
                                    let ours = cfg.time_on_air_ns(pl).unwrap() as f64 / 1e6;
                                    let theirs = reference_ms(
                                        sf as u32,
                                        bw as f64,
                                        cr as u32,
                                        preamble as u32,
                                        implicit,
                                        crc,
                                        ldro,
                                        pl as u32,
                                    );
                                    assert!(
                                        (ours - theirs).abs() < 0.001,
                                        "sf{sf} bw{bw} cr{cr} ih{implicit} crc{crc} {ldro:?} pre{preamble} pl{pl}: {ours} vs {theirs}"
                                    );
                                    checked += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 8 * 10 * 4 * 2 * 2 * 3 * 4 * 9);
}

#[test]
fn check_values_to_the_microsecond() {
    let sf = |sf| LoRaConfig {
        spreading_factor: sf,
        ..LoRaConfig::default()
    };
    assert_eq!(sf(7).time_on_air_us(255).unwrap(), 399_616);
    assert_eq!(sf(9).time_on_air_us(12).unwrap(), 144_384);
    assert_eq!(sf(12).time_on_air_us(255).unwrap(), 9_019_392);
}
