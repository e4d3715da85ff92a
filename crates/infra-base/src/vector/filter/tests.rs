//! The reference evaluator and validation, case by case.
use super::*;
use serde_json::json;

use crate::ErrorKind;

const ID: PointId = PointId::Num(1);

fn payload(v: Value) -> Payload {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

#[test]
fn empty_filter_matches_everything() {
    assert!(Filter::default().matches(ID, &Payload::new()));
}

#[test]
fn match_conditions_compare_type_and_value() {
    let p = payload(json!({"color": "red", "n": 3, "ok": true, "f": 3.5}));
    assert!(Condition::keyword("color", "red").matches(ID, &p));
    assert!(!Condition::keyword("color", "Red").matches(ID, &p));
    assert!(Condition::integer("n", 3).matches(ID, &p));
    assert!(!Condition::integer("f", 3).matches(ID, &p));
    assert!(!Condition::keyword("n", "3").matches(ID, &p));
    assert!(Condition::boolean("ok", true).matches(ID, &p));
    assert!(!Condition::boolean("missing", true).matches(ID, &p));
}

#[test]
fn ranges_apply_to_integers_and_floats_with_open_bounds() {
    let p = payload(json!({"n": 3, "f": 3.5}));
    let r = Range {
        gte: Some(3.0),
        lt: Some(3.5),
        ..Range::default()
    };
    assert!(Condition::range("n", r).matches(ID, &p));
    assert!(!Condition::range("f", r).matches(ID, &p));
    assert!(Condition::range("f", Range::default()).matches(ID, &p));
    assert!(!Condition::range("missing", Range::default()).matches(ID, &p));
}

#[test]
fn paths_descend_objects_and_arrays_match_any_element() {
    let p = payload(json!({"tags": ["a", "b"], "addr": {"city": "Oslo"},
                           "items": [{"sku": "x"}, {"sku": "y"}]}));
    assert!(Condition::keyword("tags", "b").matches(ID, &p));
    assert!(Condition::keyword("addr.city", "Oslo").matches(ID, &p));
    assert!(Condition::keyword("items.sku", "y").matches(ID, &p));
    assert!(Condition::keyword("items[].sku", "y").matches(ID, &p));
    assert!(!Condition::keyword("items.sku", "z").matches(ID, &p));
}

#[test]
fn must_should_and_must_not_combine_like_qdrant() {
    let p = payload(json!({"color": "red", "size": 2}));
    let f = Filter::default()
        .must(Condition::keyword("color", "red"))
        .should(Condition::integer("size", 1))
        .should(Condition::integer("size", 2));
    assert!(f.matches(ID, &p));
    assert!(
        !f.clone()
            .must_not(Condition::integer("size", 2))
            .matches(ID, &p)
    );
    let only_wrong_should = Filter::default().should(Condition::integer("size", 9));
    assert!(!only_wrong_should.matches(ID, &p));
}

#[test]
fn filters_round_trip_through_json() {
    let f = Filter::default()
        .must(Condition::keyword("a", "b"))
        .must_not(Condition::range(
            "x",
            Range {
                gt: Some(1.0),
                ..Range::default()
            },
        ));
    let json = serde_json::to_string(&f).unwrap();
    assert_eq!(serde_json::from_str::<Filter>(&json).unwrap(), f);
}

fn invalid_message(filter: &Filter) -> String {
    let err = filter.validate("search").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    err.message().to_owned()
}

#[test]
fn groups_and_min_should_nest() {
    let p = payload(json!({"a": 1, "b": 2, "c": 3}));
    let one = |k: &str, v| Condition::integer(k, v);
    let two_of_three = Filter::default().min_should([one("a", 1), one("b", 9), one("c", 3)], 2);
    assert!(two_of_three.matches(ID, &p));
    assert!(
        !Filter::default()
            .min_should([one("a", 1), one("b", 9), one("c", 9)], 2)
            .matches(ID, &p)
    );
    assert!(Filter::default().min_should([], 0).matches(ID, &p));
    // (a = 1 or b = 9) and not (c = 3 and a = 1)
    let grouped = Filter::default()
        .must(Condition::group(
            Filter::default().should(one("a", 1)).should(one("b", 9)),
        ))
        .must_not(Condition::group(
            Filter::default().must(one("c", 3)).must(one("a", 1)),
        ));
    assert!(!grouped.matches(ID, &p));
    assert!(grouped.matches(ID, &payload(json!({"a": 1, "c": 4}))));
}

#[test]
fn any_and_except_follow_qdrant() {
    let p = payload(json!({"s": "x", "n": 2, "list": ["x", "y"], "null": null, "b": true}));
    assert!(Condition::any_keywords("s", ["x", "z"]).matches(ID, &p));
    assert!(!Condition::any_keywords("s", ["z"]).matches(ID, &p));
    assert!(Condition::any_integers("n", [1, 2]).matches(ID, &p));
    assert!(!Condition::any_integers("s", [1]).matches(ID, &p));
    assert!(Condition::any_keywords("list", ["y"]).matches(ID, &p));
    assert!(!Condition::except_keywords("s", ["x"]).matches(ID, &p));
    assert!(Condition::except_keywords("list", ["x"]).matches(ID, &p));
    assert!(!Condition::except_keywords("list", ["x", "y"]).matches(ID, &p));
    assert!(Condition::except_integers("n", [1]).matches(ID, &p));
    assert!(
        Condition::except_integers("s", [1]).matches(ID, &p),
        "other type"
    );
    assert!(
        Condition::except_keywords("b", ["x"]).matches(ID, &p),
        "other type"
    );
    assert!(!Condition::except_keywords("null", ["x"]).matches(ID, &p));
    assert!(!Condition::except_keywords("missing", ["x"]).matches(ID, &p));
}

#[test]
fn is_empty_and_is_null_differ_like_qdrant() {
    let p = payload(json!({"null": null, "empty": [], "one": [1], "nulls": [null], "s": ""}));
    let empty = |k| Condition::is_empty(k).matches(ID, &p);
    let null = |k| Condition::is_null(k).matches(ID, &p);
    assert_eq!(
        ["missing", "null", "empty", "one", "nulls", "s"].map(empty),
        [true, true, true, false, false, false]
    );
    assert_eq!(
        ["missing", "null", "empty", "one", "nulls", "s"].map(null),
        [false, true, false, false, false, false]
    );
}

#[test]
fn has_id_values_count_and_text() {
    let p = payload(json!({"tags": ["a", "b"], "one": "x", "null": null,
                           "title": "The quick brown fox"}));
    assert!(Condition::has_id([1u64, 5]).matches(ID, &p));
    assert!(!Condition::has_id([2u64]).matches(ID, &p));
    let count = |gte, lt| ValuesCount {
        gte: Some(gte),
        lt: Some(lt),
        ..ValuesCount::default()
    };
    assert!(Condition::values_count("tags", count(2, 3)).matches(ID, &p));
    assert!(!Condition::values_count("tags", count(3, 9)).matches(ID, &p));
    assert!(Condition::values_count("one", count(1, 2)).matches(ID, &p));
    assert!(Condition::values_count("null", count(0, 1)).matches(ID, &p));
    assert!(Condition::values_count("missing", count(0, 1)).matches(ID, &p));
    assert!(!Condition::values_count("missing", count(1, 9)).matches(ID, &p));
    assert!(Condition::text("title", "brown").matches(ID, &p));
    assert!(Condition::text("title", "quick brown").matches(ID, &p));
    assert!(
        !Condition::text("title", "quick fox").matches(ID, &p),
        "a substring"
    );
}

#[test]
fn datetime_ranges_compare_instants() {
    let p = payload(
        json!({"at": "2024-05-01T14:00:00+02:00", "day": "2024-05-02",
                           "bad": "soon", "n": 5}),
    );
    let range = |gte: &str, lt: &str| DatetimeRange {
        gte: Some(gte.into()),
        lt: Some(lt.into()),
        ..DatetimeRange::default()
    };
    let noon = range("2024-05-01T12:00:00Z", "2024-05-01T12:00:00.000001Z");
    assert!(Condition::datetime_range("at", noon.clone()).matches(ID, &p));
    assert!(!Condition::datetime_range("day", noon.clone()).matches(ID, &p));
    assert!(!Condition::datetime_range("bad", noon.clone()).matches(ID, &p));
    assert!(!Condition::datetime_range("n", noon).matches(ID, &p));
    let may = range("2024-05-01T00:00:00Z", "2024-06-01T00:00:00Z");
    assert!(Condition::datetime_range("day", may).matches(ID, &p));
}

#[test]
fn geo_conditions_use_metres_and_strict_boxes() {
    let p = payload(json!({"place": {"lon": 13.405, "lat": 52.52},
                           "many": [{"lon": 0.0, "lat": 0.0}, {"lon": 2.35, "lat": 48.85}]}));
    let berlin = GeoPoint::new(13.4, 52.52);
    assert!(Condition::geo_radius("place", berlin, 1_000.0).matches(ID, &p));
    assert!(!Condition::geo_radius("place", berlin, 100.0).matches(ID, &p));
    let paris = GeoPoint::new(2.35, 48.85);
    assert!(
        Condition::geo_radius("many", paris, 1.0).matches(ID, &p),
        "any element"
    );
    let europe = (GeoPoint::new(-10.0, 60.0), GeoPoint::new(30.0, 35.0));
    assert!(Condition::geo_bounding_box("place", europe.0, europe.1).matches(ID, &p));
    let pacific = (GeoPoint::new(170.0, 10.0), GeoPoint::new(-170.0, -10.0));
    let date_line = payload(json!({"place": {"lon": 179.5, "lat": 0.0}}));
    assert!(Condition::geo_bounding_box("place", pacific.0, pacific.1).matches(ID, &date_line));
    assert!(!Condition::geo_bounding_box("place", pacific.0, pacific.1).matches(ID, &p));
}

#[test]
fn nested_conditions_hold_for_one_object() {
    let p = payload(json!({"diet": [{"food": "meat", "likes": false},
                                    {"food": "veggies", "likes": true}]}));
    let both_on_one = Filter::default()
        .must(Condition::keyword("food", "meat"))
        .must(Condition::boolean("likes", true));
    assert!(!Condition::nested("diet", both_on_one.clone()).matches(ID, &p));
    assert!(
        Filter::default()
            .must(Condition::keyword("diet[].food", "meat"))
            .must(Condition::boolean("diet[].likes", true))
            .matches(ID, &p),
        "flattened paths mix objects"
    );
    let veggies = Filter::default()
        .must(Condition::keyword("food", "veggies"))
        .must(Condition::boolean("likes", true));
    assert!(Condition::nested("diet", veggies.clone()).matches(ID, &p));
    assert!(Condition::nested("diet[]", veggies).matches(ID, &p));
}

#[test]
fn paths_take_indexes_and_keep_final_arrays_whole() {
    let p = payload(json!({"list": [[1, 2], [3]], "objs": [{"v": 1}, {"v": 2}]}));
    assert!(Condition::integer("objs[1].v", 2).matches(ID, &p));
    assert!(!Condition::integer("objs[0].v", 2).matches(ID, &p));
    let two = ValuesCount {
        gte: Some(2),
        lte: Some(2),
        ..ValuesCount::default()
    };
    assert!(Condition::values_count("list", two).matches(ID, &p));
    assert!(Condition::values_count("list[]", two).matches(ID, &p));
}

#[test]
fn validation_bounds_depth_size_and_values() {
    let mut deep = Filter::default().must(Condition::integer("a", 1));
    for _ in 1..MAX_FILTER_DEPTH {
        deep = Filter::default().must(Condition::group(deep));
    }
    assert!(deep.validate("search").is_ok());
    let too_deep = Filter::default().must(Condition::group(deep));
    assert!(invalid_message(&too_deep).contains("deeper than 16"));

    let wide = Filter {
        should: vec![Condition::integer("a", 1); MAX_FILTER_CONDITIONS + 1],
        ..Filter::default()
    };
    assert!(invalid_message(&wide).contains("more than 1024 conditions"));

    let many = Filter::default()
        .must(Condition::any_integers("a", 0..6_000))
        .must(Condition::has_id(0..5_000u64));
    assert!(invalid_message(&many).contains("more than 10000 values"));
}

#[test]
fn validation_names_the_bad_field() {
    let bad_date = Filter::default().must(Condition::datetime_range(
        "created_at",
        DatetimeRange {
            lt: Some("2024-02-30T00:00:00Z".into()),
            ..DatetimeRange::default()
        },
    ));
    let message = invalid_message(&bad_date);
    assert!(
        message.contains("\"created_at\"") && message.contains("lt"),
        "{message}"
    );

    let bad_lat = Filter::default().must(Condition::geo_radius(
        "place",
        GeoPoint::new(0.0, 91.0),
        10.0,
    ));
    assert!(invalid_message(&bad_lat).contains("\"place\""));
    let bad_radius = Filter::default().must(Condition::geo_radius(
        "place",
        GeoPoint::new(0.0, 0.0),
        f32::NAN,
    ));
    assert!(invalid_message(&bad_radius).contains("radius"));
    let bad_box = Filter::default().must(Condition::geo_bounding_box(
        "place",
        GeoPoint::new(-181.0, 1.0),
        GeoPoint::new(0.0, 0.0),
    ));
    assert!(invalid_message(&bad_box).contains("top_left"));
    let empty_key = Filter::default().should(Condition::is_null(""));
    assert!(invalid_message(&empty_key).contains("is_null"));
    let id_in_nested = Filter::default().must(Condition::nested(
        "items",
        Filter::default().must(Condition::group(
            Filter::default().must(Condition::has_id([1u64])),
        )),
    ));
    assert!(invalid_message(&id_in_nested).contains("has_id"));
}

#[test]
fn every_condition_round_trips_through_json() {
    let f = Filter::default()
        .must(Condition::any_keywords("a", ["x"]))
        .must(Condition::except_integers("b", [1]))
        .must(Condition::text("c", "hello"))
        .must(Condition::datetime_range(
            "d",
            DatetimeRange {
                gt: Some("2024-01-01T00:00:00Z".into()),
                ..DatetimeRange::default()
            },
        ))
        .should(Condition::geo_radius("e", GeoPoint::new(1.0, 2.0), 3.0))
        .should(Condition::geo_bounding_box(
            "f",
            GeoPoint::new(0.0, 1.0),
            GeoPoint::new(1.0, 0.0),
        ))
        .must_not(Condition::values_count(
            "g",
            ValuesCount {
                lt: Some(2),
                ..ValuesCount::default()
            },
        ))
        .must_not(Condition::is_empty("h"))
        .must_not(Condition::is_null("i"))
        .min_should(
            [
                Condition::has_id([PointId::Num(3)]),
                Condition::nested("j", Filter::default().must(Condition::integer("k", 1))),
                Condition::group(Filter::default().should(Condition::keyword("l", "m"))),
            ],
            2,
        );
    let json = serde_json::to_value(&f).unwrap();
    assert_eq!(serde_json::from_value::<Filter>(json.clone()).unwrap(), f);
    assert_eq!(
        json["must"][0],
        json!({"match_any": {"key": "a", "any": ["x"]}})
    );
    assert_eq!(json["min_should"]["min_count"], json!(2));
    assert_eq!(
        json["min_should"]["conditions"][2],
        json!({"filter": {"must": [], "should": [{"match": {"key": "l", "value": "m"}}],
                          "must_not": []}})
    );
}
