//! The expert pool's CSV import (src/expert/pool.rs `import_csv` without the database):
//! `parse_csv` splits the file into records, `header_map` reads the header, and each data
//! row goes through `parse_csv_row` and `validate` as the import does.
//!
//! Beyond "no panic": every record's row number is within the file and increasing, and a
//! profile that validates has the shape the pool stores.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sunbid::expert::pool::{header_map, parse_csv, parse_csv_row, validate};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let records = parse_csv(text);
    let lines = text.split('\n').count();
    let mut last = 0;
    for (row, _) in &records {
        assert!(
            *row > last && *row <= lines,
            "row {row} after {last} of {lines}"
        );
        last = *row;
    }
    let mut records = records.into_iter();
    let Some((_, Ok(header))) = records.next() else {
        return;
    };
    let Ok(cols) = header_map(&header) else {
        return;
    };
    for (_, record) in records {
        let Ok(fields) = record else { continue };
        let Ok(row) = parse_csv_row(&cols, header.len(), &fields) else {
            continue;
        };
        if let Ok(profile) = validate(&row.input, 2026) {
            assert!(!profile.name.is_empty());
            assert!((1..=20).contains(&profile.specialties.len()));
            assert!(profile.specialties.windows(2).all(|w| w[0] < w[1]));
            assert!(profile.unavailable.windows(2).all(|w| w[0] < w[1]));
            assert!((1900..=2026).contains(&profile.birth_year));
        }
    }
});
