//! Property tests: the server never panics, queries round-trip.

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use meshsim_dns::{encode_query, handle_query};
use proptest::prelude::*;

use super::{example_zones, query};

fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?"
}

fn host_name() -> impl Strategy<Value = String> {
    prop::collection::vec(label(), 1..5).prop_map(|labels| labels.join("."))
}

proptest! {
    #[test]
    fn handle_query_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let zones = example_zones();
        if let Some(answer) = handle_query(&zones, &bytes) {
            prop_assert!(answer.len() >= 12);
            prop_assert_eq!(&answer[..2], &bytes[..2], "the id is echoed");
        }
    }

    #[test]
    fn handle_query_never_panics_on_mutated_queries(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut packet = query(9, "api.example.com.", RecordType::A);
        for (at, byte) in flips {
            let i = at.index(packet.len());
            packet[i] = byte;
        }
        packet.truncate(12 + cut.index(packet.len() - 11));
        let _ = handle_query(&example_zones(), &packet);
    }

    #[test]
    fn a_query_built_for_a_random_name_round_trips(name in host_name(), id in any::<u16>()) {
        let packet = encode_query(id, &name).unwrap();
        let msg = Message::from_vec(&packet).unwrap();
        prop_assert_eq!(msg.metadata.id, id);
        prop_assert_eq!(msg.queries[0].name().to_ascii(), format!("{name}."));
        prop_assert_eq!(msg.queries[0].query_type(), RecordType::A);

        let zones = example_zones();
        let answer = Message::from_vec(&handle_query(&zones, &packet).unwrap()).unwrap();
        prop_assert_eq!(answer.metadata.id, id);
        prop_assert_eq!(&answer.queries, &msg.queries);
        let ours = name == "example.com" || name.ends_with(".example.com");
        let expected = if !ours { ResponseCode::Refused }
            else if name == "api.example.com" || name == "example.com" { ResponseCode::NoError }
            else { ResponseCode::NXDomain };
        prop_assert_eq!(answer.metadata.response_code, expected);
    }
}
