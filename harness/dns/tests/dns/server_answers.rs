//! The server's answers as a pure function of the zone data (`handle_query`).

use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::op::{Edns, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use meshsim_dns::handle_query;

use super::{example_zones, ip, parse, query, secs};

fn ask(zones: &meshsim_dns::ZoneSet, name: &str, qtype: RecordType) -> hickory_proto::op::Message {
    parse(&handle_query(zones, &query(42, name, qtype)).expect("an answer"))
}

#[test]
fn a_query_returns_the_addresses_with_the_ttl_as_set() {
    let zones = example_zones();
    zones.set_a(
        "api.example.com",
        vec![ip("10.0.0.5"), ip("10.0.0.6")],
        secs(60),
    );
    let m = ask(&zones, "api.example.com.", RecordType::A);
    assert_eq!(m.metadata.id, 42);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    let addrs: Vec<_> = m.answers.iter().map(|r| (r.data.clone(), r.ttl)).collect();
    assert_eq!(
        addrs,
        vec![
            (RData::from(Ipv4Addr::new(10, 0, 0, 5)), 60),
            (RData::from(Ipv4Addr::new(10, 0, 0, 6)), 60)
        ]
    );
}

#[test]
fn aaaa_query_returns_only_the_ipv6_addresses() {
    let zones = example_zones();
    zones.set_a(
        "api.example.com",
        vec![ip("10.0.0.5"), ip("fd00::5")],
        secs(60),
    );
    let m = ask(&zones, "api.example.com.", RecordType::AAAA);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].data, RData::from(ip("fd00::5")));
    let a = ask(&zones, "api.example.com.", RecordType::A);
    assert_eq!(a.answers.len(), 1);
}

#[test]
fn answers_are_authoritative_never_offer_recursion_and_echo_rd() {
    let m = ask(&example_zones(), "api.example.com.", RecordType::A);
    assert!(m.metadata.authoritative);
    assert!(!m.metadata.recursion_available);
    assert!(m.metadata.recursion_desired);
    assert_eq!(m.queries.len(), 1);
}

#[test]
fn cname_is_chased_within_our_zones_with_the_chain_in_the_answer() {
    let zones = example_zones();
    zones.add_zone("other.test", secs(5));
    zones.set_cname("www.example.com", "edge.other.test", secs(300));
    zones.set_cname("edge.other.test", "api.example.com", secs(120));
    let m = ask(&zones, "www.example.com.", RecordType::A);
    let kinds: Vec<_> = m
        .answers
        .iter()
        .map(|r| (r.name.to_ascii(), r.record_type(), r.ttl))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("www.example.com.".to_string(), RecordType::CNAME, 300),
            ("edge.other.test.".to_string(), RecordType::CNAME, 120),
            ("api.example.com.".to_string(), RecordType::A, 60),
        ]
    );
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
}

#[test]
fn cname_to_a_name_outside_our_zones_is_not_chased() {
    let zones = example_zones();
    zones.set_cname("ext.example.com", "elsewhere.net", secs(60));
    let m = ask(&zones, "ext.example.com.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].record_type(), RecordType::CNAME);
}

#[test]
fn cname_loop_ends_the_chain_instead_of_hanging() {
    let zones = example_zones();
    zones.set_cname("a.example.com", "b.example.com", secs(60));
    zones.set_cname("b.example.com", "a.example.com", secs(60));
    let m = ask(&zones, "a.example.com.", RecordType::A);
    assert_eq!(m.answers.len(), 2);
}

#[test]
fn cname_query_returns_the_alias_itself() {
    let zones = example_zones();
    zones.set_cname("www.example.com", "api.example.com", secs(300));
    let m = ask(&zones, "www.example.com.", RecordType::CNAME);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].record_type(), RecordType::CNAME);
}

#[test]
fn nxdomain_carries_the_zone_soa_whose_minimum_is_the_negative_ttl() {
    let m = ask(&example_zones(), "missing.example.com.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(m.metadata.authoritative);
    assert!(m.answers.is_empty());
    let soa = &m.authorities[0];
    assert_eq!(soa.name.to_ascii(), "example.com.");
    assert_eq!(soa.ttl, 30);
    let RData::SOA(data) = &soa.data else {
        panic!("not an SOA: {soa:?}")
    };
    assert_eq!(data.minimum, 30);
}

#[test]
fn nodata_is_noerror_with_an_empty_answer_and_the_soa() {
    let m = ask(&example_zones(), "api.example.com.", RecordType::AAAA);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    assert_eq!(m.authorities.len(), 1);
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
}

#[test]
fn an_empty_address_list_is_nodata_like_a_successful_empty_answer() {
    let zones = example_zones();
    zones.set_a("api.example.com", vec![], secs(60));
    let m = ask(&zones, "api.example.com.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
}

#[test]
fn a_name_with_names_below_it_is_nodata_not_nxdomain() {
    let zones = example_zones();
    zones.set_a("a.b.example.com", vec![ip("10.0.0.9")], secs(60));
    let m = ask(&zones, "b.example.com.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
}

#[test]
fn the_most_specific_zone_gives_the_soa() {
    let zones = example_zones();
    zones.add_zone("dev.example.com", secs(5));
    let m = ask(&zones, "x.dev.example.com.", RecordType::A);
    assert_eq!(m.authorities[0].name.to_ascii(), "dev.example.com.");
    assert_eq!(m.authorities[0].ttl, 5);
}

#[test]
fn soa_query_at_the_apex_answers_the_soa() {
    let m = ask(&example_zones(), "example.com.", RecordType::SOA);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].record_type(), RecordType::SOA);
}

#[test]
fn names_outside_every_zone_are_refused_never_recursed() {
    let m = ask(&example_zones(), "www.google.com.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    assert!(!m.metadata.authoritative);
    assert!(!m.metadata.recursion_available);
    assert!(m.answers.is_empty());
}

#[test]
fn query_name_spelling_is_echoed_in_question_and_answer() {
    let m = ask(&example_zones(), "API.Example.COM.", RecordType::A);
    assert_eq!(m.queries[0].name().to_ascii(), "API.Example.COM.");
    assert_eq!(m.answers[0].name.to_ascii(), "API.Example.COM.");
}

#[test]
fn zone_changes_take_effect_for_the_next_query() {
    let zones = example_zones();
    zones.set_a("api.example.com", vec![ip("10.0.0.7")], secs(60));
    assert_eq!(
        ask(&zones, "api.example.com.", RecordType::A).answers[0].data,
        RData::from(ip("10.0.0.7"))
    );
    zones.set_ttl("api.example.com", secs(5));
    assert_eq!(zones.ttl("api.example.com"), Some(secs(5)));
    assert_eq!(
        ask(&zones, "api.example.com.", RecordType::A).answers[0].ttl,
        5
    );
    zones.remove("api.example.com");
    assert_eq!(
        ask(&zones, "api.example.com.", RecordType::A)
            .metadata
            .response_code,
        ResponseCode::NXDomain
    );
    assert_eq!(zones.addrs("api.example.com"), Vec::<IpAddr>::new());
}

#[test]
fn malformed_packet_with_a_readable_header_gets_formerr_with_its_id() {
    let mut packet = query(0xBEEF, "api.example.com.", RecordType::A);
    packet.truncate(packet.len() - 3); // cut inside the question
    let answer = handle_query(&example_zones(), &packet).expect("formerr");
    assert_eq!(&answer[..2], &[0xBE, 0xEF]);
    assert_eq!(answer[2] & 0x80, 0x80, "QR set");
    assert_eq!(answer[3] & 0x0f, 1, "FORMERR");
}

#[test]
fn packet_shorter_than_a_header_is_dropped() {
    assert_eq!(handle_query(&example_zones(), &[0x12, 0x34, 0x01]), None);
    assert_eq!(handle_query(&example_zones(), &[]), None);
}

#[test]
fn responses_sent_to_the_server_are_dropped() {
    let zones = example_zones();
    let answer = handle_query(&zones, &query(1, "api.example.com.", RecordType::A)).unwrap();
    assert_eq!(handle_query(&zones, &answer), None);
}

#[test]
fn a_non_query_opcode_gets_notimp() {
    let mut packet = query(9, "api.example.com.", RecordType::A);
    packet[2] |= 2 << 3; // opcode STATUS
    let m = parse(&handle_query(&example_zones(), &packet).unwrap());
    assert_eq!(m.metadata.response_code, ResponseCode::NotImp);
}

#[test]
fn two_questions_get_formerr() {
    let mut msg = parse(&query(3, "api.example.com.", RecordType::A));
    let q = msg.queries[0].clone();
    msg.add_query(q);
    let m = parse(&handle_query(&example_zones(), &msg.to_vec().unwrap()).unwrap());
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
}

fn big_zone() -> meshsim_dns::ZoneSet {
    let zones = example_zones();
    let addrs = (1..=40)
        .map(|i| IpAddr::V4(Ipv4Addr::new(10, 1, 0, i)))
        .collect();
    zones.set_a("big.example.com", addrs, secs(60));
    zones
}

#[test]
fn udp_answers_over_512_bytes_are_truncated_with_tc() {
    let bytes = handle_query(&big_zone(), &query(5, "big.example.com.", RecordType::A)).unwrap();
    assert!(bytes.len() <= 512);
    let m = parse(&bytes);
    assert!(m.metadata.truncation);
    assert!(m.answers.is_empty());
    assert_eq!(m.queries.len(), 1);
}

#[test]
fn an_edns_payload_size_raises_the_udp_limit() {
    let mut msg = parse(&query(6, "big.example.com.", RecordType::A));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    msg.set_edns(edns);
    let bytes = handle_query(&big_zone(), &msg.to_vec().unwrap()).unwrap();
    assert!(bytes.len() > 512);
    let m = parse(&bytes);
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 40);
    assert!(m.edns.is_some(), "EDNS mirrored");
}
