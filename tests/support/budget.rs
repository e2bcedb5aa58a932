//! The time budget of a state machine definition: the worst case of every path, counting
//! each attempt at its full `TimeoutSeconds` and each retry wait at its longest (jitter
//! only shortens waits). A Task without `TimeoutSeconds` has no bound and is an error.

use serde_json::Value;
use std::collections::BTreeMap;

/// The worst case of one Task or Parallel state, before what follows it.
#[derive(Debug, Clone, PartialEq)]
pub struct StateCost {
    pub state: String,
    pub attempts: u64,
    pub attempt_seconds: f64,
    pub wait_seconds: f64,
}

impl StateCost {
    pub fn total(&self) -> f64 {
        self.attempts as f64 * self.attempt_seconds + self.wait_seconds
    }
}

/// The budget of a definition: its costly states and its slowest path.
#[derive(Debug)]
pub struct Budget {
    pub costs: Vec<StateCost>,
    pub worst_path: Vec<String>,
    pub worst_seconds: f64,
    pub timeout_seconds: Option<f64>,
}

pub fn analyse(definition: &Value) -> Result<Budget, String> {
    let mut costs = Vec::new();
    let (worst_seconds, worst_path) = worst_from(definition, &mut costs)?;
    Ok(Budget {
        costs,
        worst_path,
        worst_seconds,
        timeout_seconds: definition["TimeoutSeconds"].as_f64(),
    })
}

/// The slowest run from `StartAt` of a (sub)machine, and its states.
fn worst_from(machine: &Value, costs: &mut Vec<StateCost>) -> Result<(f64, Vec<String>), String> {
    let states = machine["States"]
        .as_object()
        .ok_or("a machine has no States")?;
    let start = machine["StartAt"]
        .as_str()
        .ok_or("a machine has no StartAt")?;
    let mut memo = BTreeMap::new();
    worst_state(start, states, costs, &mut memo, &mut Vec::new())
}

type Memo = BTreeMap<String, (f64, Vec<String>)>;

fn worst_state(
    name: &str,
    states: &serde_json::Map<String, Value>,
    costs: &mut Vec<StateCost>,
    memo: &mut Memo,
    stack: &mut Vec<String>,
) -> Result<(f64, Vec<String>), String> {
    if let Some(known) = memo.get(name) {
        return Ok(known.clone());
    }
    if stack.iter().any(|s| s == name) {
        return Err(format!(
            "the definition loops through {name}: no upper bound"
        ));
    }
    let state = states
        .get(name)
        .ok_or_else(|| format!("`Next` names a missing state {name}"))?;
    stack.push(name.to_string());
    let own = match state["Type"].as_str().unwrap_or("") {
        "Task" => {
            let timeout = state["TimeoutSeconds"].as_f64().ok_or_else(|| {
                format!("Task {name} has no TimeoutSeconds: its time is unbounded")
            })?;
            let cost = with_retries(name, state, timeout);
            let total = cost.total();
            costs.push(cost);
            total
        }
        "Parallel" => {
            let mut slowest: f64 = 0.0;
            for branch in state["Branches"]
                .as_array()
                .ok_or("Parallel without Branches")?
            {
                slowest = slowest.max(worst_from(branch, costs)?.0);
            }
            let cost = with_retries(name, state, slowest);
            let total = cost.total();
            costs.push(cost);
            total
        }
        "Wait" => state["Seconds"]
            .as_f64()
            .ok_or_else(|| format!("Wait {name} needs Seconds"))?,
        "Pass" | "Choice" | "Succeed" | "Fail" => 0.0,
        other => {
            return Err(format!(
                "state {name} has a type this analysis does not bound: {other}"
            ));
        }
    };
    let mut next: Vec<&str> = Vec::new();
    next.extend(state["Next"].as_str());
    next.extend(state["Default"].as_str());
    for list in ["Choices", "Catch"] {
        for entry in state[list].as_array().into_iter().flatten() {
            next.extend(entry["Next"].as_str());
        }
    }
    let mut best = (0.0, Vec::new());
    for target in next {
        let candidate = worst_state(target, states, costs, memo, stack)?;
        if candidate.0 > best.0 || best.1.is_empty() {
            best = candidate;
        }
    }
    stack.pop();
    let mut path = vec![name.to_string()];
    path.extend(best.1);
    let result = (own + best.0, path);
    memo.insert(name.to_string(), result.clone());
    Ok(result)
}

/// Attempts and longest waits of a state's retriers. Each retrier counts its own attempts,
/// so the worst case is every retrier exhausted in turn.
fn with_retries(name: &str, state: &Value, attempt_seconds: f64) -> StateCost {
    let mut attempts = 1;
    let mut wait_seconds = 0.0;
    for retrier in state["Retry"].as_array().into_iter().flatten() {
        let max_attempts = retrier["MaxAttempts"].as_u64().unwrap_or(3);
        let interval = retrier["IntervalSeconds"].as_f64().unwrap_or(1.0);
        let backoff = retrier["BackoffRate"].as_f64().unwrap_or(2.0);
        let cap = retrier["MaxDelaySeconds"].as_f64().unwrap_or(f64::INFINITY);
        attempts += max_attempts;
        wait_seconds += (0..max_attempts)
            .map(|retry| (interval * backoff.powi(retry as i32)).min(cap))
            .sum::<f64>();
    }
    StateCost {
        state: name.to_string(),
        attempts,
        attempt_seconds,
        wait_seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(timeout: u64, next: &str) -> Value {
        json!({"Type": "Task", "Resource": "arn", "TimeoutSeconds": timeout, "Next": next,
               "Retry": [{"ErrorEquals": ["X"], "IntervalSeconds": 1, "MaxAttempts": 3,
                          "BackoffRate": 2.0}]})
    }

    #[test]
    fn retries_multiply_attempts_and_add_exponential_waits() {
        let machine = json!({"StartAt": "A", "TimeoutSeconds": 60,
            "States": {"A": task(2, "Done"), "Done": {"Type": "Succeed"}}});
        let budget = analyse(&machine).unwrap();
        // 4 attempts of 2 s, waits 1 + 2 + 4.
        assert_eq!(budget.worst_seconds, 15.0);
        assert_eq!(budget.worst_path, vec!["A", "Done"]);
    }

    #[test]
    fn catch_paths_and_parallel_branches_take_the_slowest() {
        let machine = json!({"StartAt": "P", "States": {
            "P": {"Type": "Parallel", "Next": "Done", "Branches": [
                {"StartAt": "Fast", "States": {"Fast": {"Type": "Task", "TimeoutSeconds": 1, "End": true}}},
                {"StartAt": "Slow", "States": {"Slow": {"Type": "Task", "TimeoutSeconds": 5, "End": true}}}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Alert"}]},
            "Alert": {"Type": "Task", "TimeoutSeconds": 7, "Next": "Failed"},
            "Failed": {"Type": "Fail"},
            "Done": {"Type": "Succeed"}}});
        let budget = analyse(&machine).unwrap();
        assert_eq!(budget.worst_seconds, 12.0);
        assert_eq!(budget.worst_path, vec!["P", "Alert", "Failed"]);
    }

    #[test]
    fn max_delay_caps_each_wait() {
        let mut a = task(2, "Done");
        a["Retry"][0]["MaxDelaySeconds"] = json!(2);
        let machine = json!({"StartAt": "A", "States": {"A": a, "Done": {"Type": "Succeed"}}});
        assert_eq!(
            analyse(&machine).unwrap().worst_seconds,
            8.0 + 1.0 + 2.0 + 2.0
        );
    }

    #[test]
    fn unbounded_tasks_loops_and_dangling_next_are_errors() {
        let no_timeout = json!({"StartAt": "A", "States": {"A": {"Type": "Task", "End": true}}});
        assert!(
            analyse(&no_timeout)
                .unwrap_err()
                .contains("no TimeoutSeconds")
        );
        let looping = json!({"StartAt": "A", "States": {"A": task(1, "B"), "B": task(1, "A")}});
        assert!(analyse(&looping).unwrap_err().contains("loops"));
        let dangling = json!({"StartAt": "A", "States": {"A": task(1, "Nowhere")}});
        assert!(
            analyse(&dangling)
                .unwrap_err()
                .contains("missing state Nowhere")
        );
    }
}
