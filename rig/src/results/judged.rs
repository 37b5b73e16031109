//! What one judged iteration counts for in a sequential comparison: whether the hunted panic
//! hit, and whether the race it hunts ran at all (a module reload that both unloaded and
//! loaded). With both, a candidate on which the race cannot run is told apart online from one
//! that is fixed ([`not_exercised`]). An iteration is read into one by
//! [`crate::results::compare::judged`]. Pure.

/// Judged iterations a candidate runs without one successful reload before it is NOT
/// EXERCISED (see [`not_exercised`]).
pub const NOT_EXERCISED_AFTER: usize = 3;

/// One judged iteration as the rules of a sequential comparison see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Judged {
    /// Whether the hunted panic hit.
    pub hit: bool,
    /// Whether the race ran: Some(true) when it hit or a reload both unloaded and loaded,
    /// Some(false) when reloads were tried, every one was counted and none completed, None
    /// when nothing is known (no reload tried, or a loop's counts lost to a panic or reboot).
    pub race_ran: Option<bool>,
}

impl Judged {
    /// A judged iteration that hit or not, its race unknown (a case without reloads).
    pub fn hit(hit: bool) -> Judged {
        Judged { hit, race_ran: hit.then_some(true) }
    }
}

/// Whether each judged iteration hit, in order: what the sequential rules weigh.
pub fn hits(its: &[Judged]) -> Vec<bool> {
    its.iter().map(|j| j.hit).collect()
}

/// The online NOT EXERCISED rule, kept conservative: a candidate whose first
/// [`NOT_EXERCISED_AFTER`] judged iterations each tried module reloads, had every one counted,
/// and completed none (no unload followed by a load), while the reference has at least as many
/// judged iterations in which the race ran (a hit or a completed reload), cannot run the race
/// the reference runs. Its clean iterations say nothing about a fix, and more of them would not
/// either. Returns the candidate's judged iterations it was decided after, or None.
pub fn not_exercised(reference: &[Judged], cand: &[Judged]) -> Option<u32> {
    let ran = reference.iter().filter(|j| j.race_ran == Some(true)).count();
    let first = cand.get(..NOT_EXERCISED_AFTER)?;
    (ran >= NOT_EXERCISED_AFTER && first.iter().all(|j| j.race_ran == Some(false)))
        .then_some(NOT_EXERCISED_AFTER as u32)
}

/// The rule's wording, for conclusions.
pub fn not_exercised_rule() -> String {
    format!(
        "its first {NOT_EXERCISED_AFTER} judged iterations tried module reloads and completed none, while the \
         reference's race ran in {NOT_EXERCISED_AFTER} or more"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAN: Judged = Judged { hit: false, race_ran: Some(true) };
    const HIT: Judged = Judged { hit: true, race_ran: Some(true) };
    const REFUSED: Judged = Judged { hit: false, race_ran: Some(false) };
    const UNKNOWN: Judged = Judged { hit: false, race_ran: None };

    #[test]
    fn a_candidate_that_never_reloads_is_not_exercised_after_three_judged_iterations() {
        assert_eq!(not_exercised(&[HIT, RAN, HIT], &[REFUSED; 3]), Some(3));
        assert_eq!(not_exercised(&[HIT, RAN, HIT], &[REFUSED; 2]), None, "too early");
    }

    #[test]
    fn the_rule_stays_conservative() {
        // One completed reload, or one iteration whose counts were lost, and the rule holds off.
        assert_eq!(not_exercised(&[HIT; 4], &[REFUSED, RAN, REFUSED, REFUSED]), None);
        assert_eq!(not_exercised(&[HIT; 4], &[REFUSED, UNKNOWN, REFUSED, REFUSED]), None);
        // A reference whose race has not run often enough yet says nothing about the candidate.
        assert_eq!(not_exercised(&[HIT, REFUSED, UNKNOWN], &[REFUSED; 3]), None);
        // Only the first judged iterations count: a late refusal streak is not the rule's.
        assert_eq!(not_exercised(&[HIT; 5], &[RAN, REFUSED, REFUSED, REFUSED]), None);
    }
}
