//! The request bodies the API takes from anyone logged in, parsed and checked as the
//! handlers do, without a server or a database (their pure halves). The first byte picks
//! the body:
//!
//! - 0: a tender draft (`POST /api/v1/tenders`): `TenderInput`, `check_draft_input`;
//! - 1: a draw request (`POST …/draws`): `DrawRequestInput`, `check_draw_input`;
//! - 2: an expert profile (`POST /api/v1/experts`): `ExpertInput`, `validate`;
//! - 3: a bid form, as the opening reads it (`BidForm::parse`) and as `sunbid bid` checks
//!   it before sealing (`validate_form`): what the client accepts, the opening must accept;
//! - 4: a bid submission, an objection, a passphrase and the supervisor's draw input;
//! - 5: a passkey registration or assertion response (webauthn-rs types);
//! - 6: a unified social credit code (organisation registration), raw text.
#![no_main]

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use sunbid::bid::model::{BidForm, ObjectionInput, PassphraseInput, SubmitInput};
use sunbid::bidcli::form::validate_form;
use sunbid::expert::draw::validate_supervisor_input;
use sunbid::expert::pool::{ExpertInput, validate};
use sunbid::expert::routes::SupervisorInput;
use sunbid::expert::service::{DrawRequestInput, check_draw_input};
use sunbid::identity::passkey::{parse_assertion, parse_registration};
use sunbid::identity::uscc;
use sunbid::tender::model::TenderInput;
use sunbid::tender::rulebook::Rulebooks;
use sunbid::tender::service::check_draft_input;

fn rulebooks() -> &'static Rulebooks {
    static R: OnceLock<Rulebooks> = OnceLock::new();
    R.get_or_init(|| Rulebooks::builtin().expect("the built-in rulebooks load"))
}

/// A fixed "now", so a crash reproduces whatever the date.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000, 0).expect("a valid instant")
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 7 {
        0 => {
            if let Ok(input) = serde_json::from_slice::<TenderInput>(body) {
                let _ = check_draft_input(&input, rulebooks());
            }
        }
        1 => {
            if let Ok(input) = serde_json::from_slice::<DrawRequestInput>(body) {
                let quotas = input.quotas.clone().unwrap_or_default();
                if let Ok(checked) = check_draw_input(&input, &quotas, now()) {
                    assert!(checked.evaluation_at > now());
                    assert!(!checked.quotas.is_empty());
                    assert!(checked.excluded_experts.windows(2).all(|w| w[0] < w[1]));
                }
            }
        }
        2 => {
            if let Ok(input) = serde_json::from_slice::<ExpertInput>(body) {
                let _ = validate(&input, 2026);
            }
        }
        3 => {
            let server = BidForm::parse(body);
            if let Ok(client) = validate_form(body) {
                let server = server.expect("sunbid bid accepted a form the opening refuses");
                assert_eq!(
                    (client.price_fen, client.duration_days),
                    (server.price_fen, server.duration_days)
                );
                assert_eq!(
                    (
                        &client.quality,
                        &client.project_manager,
                        &client.declarations
                    ),
                    (
                        &server.quality,
                        &server.project_manager,
                        &server.declarations
                    ),
                    "the client and the opening read the form differently"
                );
            }
        }
        4 => {
            let _ = serde_json::from_slice::<SubmitInput>(body);
            let _ = serde_json::from_slice::<ObjectionInput>(body);
            let _ = serde_json::from_slice::<PassphraseInput>(body);
            if let Ok(s) = serde_json::from_slice::<SupervisorInput>(body) {
                let _ = validate_supervisor_input(&s.input);
            }
        }
        5 => {
            if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
                let _ = parse_registration(value.clone());
                let _ = parse_assertion(value);
            }
        }
        _ => {
            if let Ok(text) = std::str::from_utf8(body) {
                if let Ok(code) = uscc::validate(text) {
                    // Normalised codes validate to themselves.
                    assert_eq!(uscc::validate(code.as_str()).as_ref(), Ok(&code));
                }
            }
        }
    }
});
