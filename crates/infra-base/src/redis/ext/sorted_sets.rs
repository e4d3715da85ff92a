//! [`RedisSortedSetsExt`]: the sorted-set commands, with `ZADD`'s options and `ZRANGE`'s
//! three kinds of range.

use std::ops::Bound;

use async_trait::async_trait;

use super::{count, invalid_argument, strings, unexpected_shape};
use crate::error::InfraResult;
use crate::redis::{Command, RedisPort, Reply};
use crate::resilience::Idempotency;

/// Which members a `ZADD` with [`ZAddOptions`] may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ZAddUpdate {
    /// New and existing members (plain `ZADD`).
    #[default]
    Any,
    /// Only new members: existing scores are never changed (`NX`).
    OnlyNew,
    /// Only existing members: nothing is added (`XX`).
    OnlyExisting,
}

/// When a `ZADD` may change an existing member's score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreComparison {
    /// Only to a greater score (`GT`): a high-water mark.
    Greater,
    /// Only to a smaller score (`LT`): a low-water mark.
    Less,
}

/// Options of [`RedisSortedSetsExt::zadd_with`]: `NX`/`XX`, `GT`/`LT` and `CH`.
///
/// `GT`/`LT` apply to existing members only: new members are still added unless
/// [`ZAddUpdate::OnlyExisting`]. Redis refuses `NX` with `GT`/`LT`, and so does
/// `zadd_with`, before sending anything.
///
/// ```
/// use infra_base::redis::{ScoreComparison, ZAddOptions, ZAddUpdate};
///
/// let high_water = ZAddOptions::new().only_if(ScoreComparison::Greater).count_changed();
/// assert_eq!(high_water.update, ZAddUpdate::Any);
/// assert!(high_water.changed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ZAddOptions {
    /// Which members may be written.
    pub update: ZAddUpdate,
    /// When an existing member's score may change; `None`: always.
    pub comparison: Option<ScoreComparison>,
    /// Count changed members too, not only added ones (`CH`).
    pub changed: bool,
}

impl ZAddOptions {
    /// A plain `ZADD`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only adds new members (`NX`).
    #[must_use]
    pub fn only_new(mut self) -> Self {
        self.update = ZAddUpdate::OnlyNew;
        self
    }

    /// Only updates existing members (`XX`).
    #[must_use]
    pub fn only_existing(mut self) -> Self {
        self.update = ZAddUpdate::OnlyExisting;
        self
    }

    /// Changes an existing score only when the comparison holds (`GT` / `LT`).
    #[must_use]
    pub fn only_if(mut self, comparison: ScoreComparison) -> Self {
        self.comparison = Some(comparison);
        self
    }

    /// Answers how many members were added or changed (`CH`).
    #[must_use]
    pub fn count_changed(mut self) -> Self {
        self.changed = true;
        self
    }

    fn check(self) -> InfraResult<()> {
        if self.update == ZAddUpdate::OnlyNew && self.comparison.is_some() {
            return Err(invalid_argument(
                "zadd",
                "ZADD options: only_new (NX) cannot be combined with a score comparison \
                 (GT/LT): use only_new alone, or only_if with Any or OnlyExisting",
            ));
        }
        Ok(())
    }

    fn push_args(self, cmd: &mut Command) {
        match self.update {
            ZAddUpdate::Any => {}
            ZAddUpdate::OnlyNew => {
                cmd.push_arg("NX");
            }
            ZAddUpdate::OnlyExisting => {
                cmd.push_arg("XX");
            }
        }
        match self.comparison {
            None => {}
            Some(ScoreComparison::Greater) => {
                cmd.push_arg("GT");
            }
            Some(ScoreComparison::Less) => {
                cmd.push_arg("LT");
            }
        }
        if self.changed {
            cmd.push_arg("CH");
        }
    }
}

/// Which members of a sorted set: by rank, by score or by member (lexicographic), in
/// ascending order or [`rev`](Self::rev)ersed, optionally a page of them
/// ([`limit`](Self::limit), by score or member only).
///
/// Bounds are given low to high whatever the direction (`by_score(1.0, 5.0).rev()` walks
/// from 5 down to 1); ranks count in the chosen direction (`by_rank(0, 2).rev()` are the
/// three highest). A lexicographic range is meaningful when all members have the same
/// score (Redis' rule).
///
/// ```
/// use std::ops::Bound;
/// use infra_base::redis::ZRange;
///
/// let top_ten = ZRange::by_rank(0, 9).rev();
/// let recent = ZRange::by_score(Bound::Excluded(100.0), Bound::Unbounded).limit(0, 50);
/// let names_a_to_c = ZRange::by_lex(Bound::Included("a"), Bound::Excluded("d"));
/// # let _ = (top_ten, recent, names_a_to_c);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ZRange {
    by: By,
    rev: bool,
    limit: Option<(u64, u64)>,
}

#[derive(Debug, Clone, PartialEq)]
enum By {
    Rank(i64, i64),
    Score(Bound<f64>, Bound<f64>),
    Lex(Bound<String>, Bound<String>),
}

impl ZRange {
    /// Members from rank `start` to `stop`, both included (0 is the lowest score; negative
    /// ranks count from the end: `0, -1` is every member).
    pub fn by_rank(start: i64, stop: i64) -> Self {
        Self::new(By::Rank(start, stop))
    }

    /// Members whose score is within `min..max` (`Unbounded` is -inf or +inf; a NaN bound
    /// is [`InvalidInput`](crate::ErrorKind::InvalidInput) when sent).
    pub fn by_score(min: Bound<f64>, max: Bound<f64>) -> Self {
        Self::new(By::Score(min, max))
    }

    /// Members between `min` and `max` by their bytes (`Unbounded` is `-` or `+`).
    pub fn by_lex(min: Bound<&str>, max: Bound<&str>) -> Self {
        Self::new(By::Lex(min.map(str::to_owned), max.map(str::to_owned)))
    }

    fn new(by: By) -> Self {
        Self {
            by,
            rev: false,
            limit: None,
        }
    }

    /// From the highest score (or last member) down (`REV`).
    #[must_use]
    pub fn rev(mut self) -> Self {
        self.rev = true;
        self
    }

    /// Skips `offset` members of the range and answers at most `count` (`LIMIT`). Redis
    /// allows it by score or member only: with a rank range it is
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) when sent (use the ranks instead).
    #[must_use]
    pub fn limit(mut self, offset: u64, count: u64) -> Self {
        self.limit = Some((offset, count));
        self
    }

    /// The `ZRANGE` command of this range on `key`.
    fn command(&self, key: &str, with_scores: bool) -> InfraResult<Command> {
        if with_scores && matches!(self.by, By::Lex(..)) {
            return Err(invalid_argument(
                "zrange",
                "ZRANGE by lex answers no scores (Redis refuses BYLEX with WITHSCORES): use \
                 zrange, or a score range",
            ));
        }
        let mut cmd = Command::new("ZRANGE").arg(key);
        let (low, high, by) = match &self.by {
            By::Rank(start, stop) => (start.to_string(), stop.to_string(), None),
            By::Score(min, max) => (
                score_bound(*min, "-inf")?,
                score_bound(*max, "+inf")?,
                Some("BYSCORE"),
            ),
            By::Lex(min, max) => (
                lex_bound(min.as_ref(), "-"),
                lex_bound(max.as_ref(), "+"),
                Some("BYLEX"),
            ),
        };
        // REV takes the bounds high first, ranks as they are.
        if self.rev && by.is_some() {
            cmd.push_arg(high).push_arg(low);
        } else {
            cmd.push_arg(low).push_arg(high);
        }
        if let Some(by) = by {
            cmd.push_arg(by);
        }
        if self.rev {
            cmd.push_arg("REV");
        }
        if let Some((offset, count)) = self.limit {
            if by.is_none() {
                return Err(invalid_argument(
                    "zrange",
                    "ZRANGE by rank takes no LIMIT: a page of ranks is the ranks themselves \
                     (by_rank(offset, offset + count - 1)); LIMIT applies to by_score and by_lex",
                ));
            }
            cmd.push_arg("LIMIT").push_arg(offset).push_arg(count);
        }
        if with_scores {
            cmd.push_arg("WITHSCORES");
        }
        Ok(cmd)
    }
}

fn score_bound(bound: Bound<f64>, unbounded: &str) -> InfraResult<String> {
    let text = |x: f64| {
        if x.is_nan() {
            Err(invalid_argument("zrange", "a score bound of ZRANGE is NaN"))
        } else {
            Ok(x.to_string())
        }
    };
    Ok(match bound {
        Bound::Included(x) => text(x)?,
        Bound::Excluded(x) => format!("({}", text(x)?),
        Bound::Unbounded => unbounded.to_owned(),
    })
}

fn lex_bound(bound: Bound<&String>, unbounded: &str) -> String {
    match bound {
        Bound::Included(m) => format!("[{m}"),
        Bound::Excluded(m) => format!("({m}"),
        Bound::Unbounded => unbounded.to_owned(),
    }
}

/// Members and scores of a `... WITHSCORES` reply: RESP2 answers a flat list (member,
/// score, member, score ...), RESP3 a list of `[member, score]` pairs.
fn scored_members(reply: Reply) -> InfraResult<Vec<(String, f64)>> {
    let items = reply.into_array()?;
    let nested = !items.is_empty()
        && items
            .iter()
            .all(|item| matches!(item, Reply::Array(pair) if pair.len() == 2));
    let pairs = if nested {
        items
            .into_iter()
            .map(|item| match item {
                Reply::Array(pair) => <[Reply; 2]>::try_from(pair)
                    .map(|[m, s]| (m, s))
                    .map_err(|p| unexpected_shape("zrange", "[member, score]", &Reply::Array(p))),
                other => Err(unexpected_shape("zrange", "[member, score]", &other)),
            })
            .collect::<InfraResult<Vec<_>>>()?
    } else {
        Reply::Array(items).into_pairs()?
    };
    pairs
        .into_iter()
        .map(|(member, score)| Ok((member.into_string()?, score.as_double()?)))
        .collect()
}

/// Sorted-set helpers for any [`RedisPort`] (`ZADD`, `ZINCRBY`, `ZSCORE`, `ZRANGE`, `ZREM`,
/// `ZCARD`).
///
/// Members are text. Empty member lists answer at once without a round trip. A key of
/// another type is [`InvalidInput`](crate::ErrorKind::InvalidInput) (`WRONGTYPE`), and so
/// is a NaN score.
#[async_trait]
pub trait RedisSortedSetsExt: RedisPort {
    /// `ZADD key score member ...`: adds members or updates their scores; returns how
    /// many were new. Idempotent.
    async fn zadd(&self, key: &str, members: &[(f64, &str)]) -> InfraResult<u64> {
        if members.is_empty() {
            return Ok(0);
        }
        let mut cmd = Command::new("ZADD").arg(key);
        for (score, member) in members {
            cmd.push_arg(*score).push_arg(*member);
        }
        count(&self.command(&cmd, Idempotency::Idempotent).await?)
    }

    /// `ZADD key [NX|XX] [GT|LT] [CH] score member ...` with [`ZAddOptions`]: adds or updates
    /// members under conditions; returns how many were added, or with
    /// [`count_changed`](ZAddOptions::count_changed) how many were added or changed.
    /// Options Redis refuses together (`NX` with `GT`/`LT`) are
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) before anything is sent.
    /// Idempotent: a repeat sets the same scores (its count may differ).
    async fn zadd_with(
        &self,
        key: &str,
        members: &[(f64, &str)],
        options: ZAddOptions,
    ) -> InfraResult<u64> {
        options.check()?;
        if members.is_empty() {
            return Ok(0);
        }
        let mut cmd = Command::new("ZADD").arg(key);
        options.push_args(&mut cmd);
        for (score, member) in members {
            cmd.push_arg(*score).push_arg(*member);
        }
        count(&self.command(&cmd, Idempotency::Idempotent).await?)
    }

    /// `ZINCRBY key delta member`: adds `delta` to the member's score (a missing member
    /// counts as 0), returns the new score. Never retried.
    async fn zincrby(&self, key: &str, delta: f64, member: &str) -> InfraResult<f64> {
        let cmd = Command::new("ZINCRBY").arg(key).arg(delta).arg(member);
        self.command(&cmd, Idempotency::NonIdempotent)
            .await?
            .as_double()
    }

    /// `ZSCORE key member`: the member's score, `None` when missing.
    async fn zscore(&self, key: &str, member: &str) -> InfraResult<Option<f64>> {
        let cmd = Command::new("ZSCORE").arg(key).arg(member);
        self.command(&cmd, Idempotency::Idempotent)
            .await?
            .as_opt_double()
    }

    /// `ZRANGE key start stop WITHSCORES`: members by rank (lowest score first; negative
    /// indexes count from the end, `0, -1` is everything), with their scores. The same as
    /// [`zrange_scores`](Self::zrange_scores) with [`ZRange::by_rank`].
    async fn zrange_with_scores(
        &self,
        key: &str,
        start: i64,
        stop: i64,
    ) -> InfraResult<Vec<(String, f64)>> {
        self.zrange_scores(key, &ZRange::by_rank(start, stop)).await
    }

    /// `ZRANGE key ... [BYSCORE|BYLEX] [REV] [LIMIT offset count]`: the members in `range`
    /// (see [`ZRange`]), in its order.
    async fn zrange(&self, key: &str, range: &ZRange) -> InfraResult<Vec<String>> {
        let cmd = range.command(key, false)?;
        strings(self.command(&cmd, Idempotency::Idempotent).await?)
    }

    /// [`zrange`](Self::zrange) `WITHSCORES`: the members in `range` with their scores. A
    /// lexicographic range is [`InvalidInput`](crate::ErrorKind::InvalidInput) (Redis
    /// refuses `BYLEX` with `WITHSCORES`: its members share one score anyway).
    async fn zrange_scores(&self, key: &str, range: &ZRange) -> InfraResult<Vec<(String, f64)>> {
        let cmd = range.command(key, true)?;
        scored_members(self.command(&cmd, Idempotency::Idempotent).await?)
    }

    /// `ZREM key member ...`: removes members, returns how many existed. Idempotent.
    async fn zrem(&self, key: &str, members: &[&str]) -> InfraResult<u64> {
        if members.is_empty() {
            return Ok(0);
        }
        let cmd = Command::new("ZREM").arg(key).args_from(members);
        count(&self.command(&cmd, Idempotency::Idempotent).await?)
    }

    /// `ZCARD key`: how many members the sorted set has (0 when missing).
    async fn zcard(&self, key: &str) -> InfraResult<u64> {
        let cmd = Command::new("ZCARD").arg(key);
        count(&self.command(&cmd, Idempotency::Idempotent).await?)
    }
}

impl<P: RedisPort + ?Sized> RedisSortedSetsExt for P {}
