//! Profiles: the built-in ones, paths through the chain, per-direction overrides, validation.

use jetty_wan::config::{Topology, BUILTIN};
use jetty_wan::loss::LossModel;
use std::net::Ipv4Addr;
use std::time::Duration;

#[test]
fn builtin_profiles_parse_into_the_chain() {
    for (name, _) in BUILTIN {
        let top = Topology::load(name).unwrap();
        assert_eq!(top.name, name);
        let names: Vec<_> = top.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["client", "edge", "origin"]);
        assert_eq!(top.nodes[2].addr, Ipv4Addr::new(10, 77, 3, 1));
        // client → origin crosses the last mile then the backbone, and back the other way.
        assert_eq!(top.path(0, 2), Some(vec![0, 2]));
        assert_eq!(top.path(2, 0), Some(vec![3, 1]));
        assert_eq!(top.path(1, 2), Some(vec![2]));
        assert_eq!(top.path(1, 1), None);
    }
}

#[test]
fn profiles_have_the_documented_numbers() {
    let ms = Duration::from_millis;
    let r = Topology::load("regional").unwrap();
    let (last, back) = (&r.links[0].a_to_b, &r.links[1].b_to_a);
    assert_eq!(last.delay * 2, ms(5));
    assert_eq!(last.loss, LossModel::Random(0.001));
    assert_eq!(last.rate_bps, Some(1_000_000_000));
    assert_eq!(
        (back.delay * 2, back.loss, back.rate_bps),
        (ms(20), LossModel::None, None)
    );

    let m = Topology::load("mobile").unwrap();
    let last = &m.links[0].b_to_a;
    assert_eq!((last.delay * 2, last.rate_bps), (ms(30), Some(50_000_000)));
    assert!(matches!(last.loss, LossModel::GilbertElliott { .. }));
    assert!((last.loss.mean_loss() - 0.01).abs() < 1e-9);
    assert_eq!(m.links[1].a_to_b.delay * 2, ms(60));

    let i = Topology::load("intercontinental").unwrap();
    let (last, back) = (&i.links[0].a_to_b, &i.links[1].a_to_b);
    assert_eq!(
        (last.delay * 2, last.loss, last.rate_bps),
        (ms(10), LossModel::Random(0.005), Some(200_000_000))
    );
    assert_eq!(
        (back.delay * 2, back.loss, back.rate_bps),
        (ms(180), LossModel::None, Some(10_000_000_000))
    );

    let lan = Topology::load("lan").unwrap();
    assert!(lan.pipe_specs().iter().all(|s| s.is_transparent()));
}

#[test]
fn a_direction_can_override_the_link_settings() {
    let top = Topology::parse(
        r#"
        nodes = [{ name = "a" }, { name = "b", addr = "10.77.9.9" }]
        [[links]]
        a = "a"
        b = "b"
        delay_ms = 4
        rate_mbit = 100
        b_to_a = { rate_mbit = 20, jitter_ms = 1 }
        "#,
        "t",
    )
    .unwrap();
    let l = &top.links[0];
    assert_eq!(
        (l.a_to_b.rate_bps, l.a_to_b.jitter),
        (Some(100_000_000), Duration::ZERO)
    );
    assert_eq!(
        (l.b_to_a.rate_bps, l.b_to_a.jitter),
        (Some(20_000_000), Duration::from_millis(1))
    );
    assert_eq!(l.b_to_a.delay, Duration::from_millis(4));
    assert_eq!(top.node_of(Ipv4Addr::new(10, 77, 9, 9)), Some(1));
}

#[test]
fn bad_profiles_are_refused() {
    let nodes = r#"nodes = [{ name = "a" }, { name = "b" }]"#;
    for bad in [
        format!("{nodes}\n[[links]]\na = \"a\"\nb = \"b\"\ndelay = 4"),
        format!("{nodes}\n[[links]]\na = \"a\"\nb = \"c\""),
        format!("{nodes}\n[[links]]\na = \"a\"\nb = \"b\"\nloss = 2"),
        format!("{nodes}\n[[links]]\na = \"a\"\nb = \"b\"\nloss_burst = 3"),
        format!("{nodes}\n[[links]]\na = \"a\"\nb = \"a\""),
        format!("{nodes}\n[[links]]\na = \"a\"\nb = \"b\"\na_to_b = {{ rate = 1 }}"),
        r#"nodes = [{ name = "a", addr = "10.1.2.3" }, { name = "b" }]"#.to_string(),
        r#"nodes = [{ name = "a b" }, { name = "b" }]"#.to_string(),
        r#"nodes = [{ name = "a" }]"#.to_string(),
    ] {
        assert!(Topology::parse(&bad, "t").is_err(), "accepted:\n{bad}");
    }
    assert!(Topology::load("no-such-profile").is_err());
}

#[test]
fn unconnected_nodes_have_no_path() {
    let top = Topology::parse(r#"nodes = [{ name = "a" }, { name = "b" }]"#, "t").unwrap();
    assert_eq!(top.path(0, 1), None);
}
