//! `cargo xtask onboard --env <env> --merchant <id> [--currency EUR:100:1000000 …]
//! [--active true|false] [--new-key | --retire-key <key-id>] [--dry-run] [--stack <name>]
//! [--emulator <work_dir> [--endpoint-url URL]]`: a merchant, its API key and its record.
//!
//! A key works only in a usage plan of the API's stage ("Usage plans and API keys for REST
//! APIs", API Gateway developer guide), and the validator accepts a payment only from a key
//! its merchant's record binds (`api_key_ids`). So onboarding creates a key named after the
//! environment and the merchant, adds it to the stack's usage plan and writes the record.
//! It is idempotent: a merchant whose record binds a key gets no second one unless
//! `--new-key` (rotation: the old key keeps working until `--retire-key <id>` unbinds and
//! disables it). The stack's usage plan and table are read from the stack's resources.

use super::records::{self, Currencies, Stored};
use super::{Common, Stack};
use crate::deploy::flow::Runner;
use crate::deploy::{self, Step};
use crate::project::Project;
use serde_json::json;
use std::collections::BTreeSet;

/// The template's logical ids this command reads (checked against the template below).
pub const USAGE_PLAN: &str = "ApiUsagePlan";
pub const MERCHANTS_TABLE: &str = "MerchantsTable";

/// What the run is asked to do with keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Make sure the merchant has a record and a bound key (the default).
    Bind,
    /// Bind one more key (rotation).
    NewKey,
    /// Unbind this key from the record and disable it.
    Retire(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub common: Common,
    pub merchant: String,
    /// `--currency`, when given: the record's whole `currencies` map.
    pub currencies: Option<Currencies>,
    /// `--active`, when given; a new record is active unless told otherwise.
    pub active: Option<bool>,
    pub request: Request,
}

pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut common = Common::default();
    let (mut merchant, mut currencies, mut active) = (None, None::<Currencies>, None);
    let mut request = Request::Bind;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{arg} needs a value"))
        };
        if common.take(arg, &mut value)? {
            continue;
        }
        let mut set = |wanted: Request| {
            if request != Request::Bind {
                return Err("--new-key and --retire-key exclude each other".to_string());
            }
            request = wanted;
            Ok(())
        };
        match arg.as_str() {
            "--merchant" => merchant = Some(value()?),
            "--currency" => {
                let (code, limits) = records::parse_currency(&value()?)?;
                if currencies
                    .get_or_insert_default()
                    .insert(code.clone(), limits)
                    .is_some()
                {
                    return Err(format!("--currency {code} is given twice"));
                }
            }
            "--active" => {
                active = Some(match value()?.as_str() {
                    "true" => true,
                    "false" => false,
                    other => return Err(format!("--active {other}: true or false")),
                })
            }
            "--new-key" => set(Request::NewKey)?,
            "--retire-key" => {
                let key = value()?;
                if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(format!("--retire-key {key}: not an API key id"));
                }
                set(Request::Retire(key))?
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    common.check()?;
    let merchant = merchant.ok_or("--merchant <id> is required")?;
    if !records::valid_merchant_id(&merchant) {
        return Err(format!(
            "--merchant {merchant}: a merchant id is 3-64 of A-Z a-z 0-9 _ - (the API's model)"
        ));
    }
    Ok(Options {
        common,
        merchant,
        currencies,
        active,
        request,
    })
}

/// The aws CLI calls of an onboarding, for one stack and merchant.
#[derive(Debug, Clone)]
pub struct Calls {
    pub stack: Stack,
    pub env: String,
    pub merchant: String,
    pub options: deploy::Options,
}

/// The record changes besides keys: `--active` and `--currency`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    pub active: Option<bool>,
    pub currencies: Option<Currencies>,
}

impl Settings {
    /// `SET …` clauses and their values (none when nothing is to be set).
    fn set_clause(
        &self,
        values: &mut serde_json::Map<String, serde_json::Value>,
    ) -> Option<String> {
        let mut clauses = vec![];
        if let Some(active) = self.active {
            clauses.push("active = :active");
            values.insert(":active".into(), json!({ "BOOL": active }));
        }
        if let Some(currencies) = &self.currencies {
            clauses.push("currencies = :currencies");
            values.insert(":currencies".into(), records::currencies_value(currencies));
        }
        (!clauses.is_empty()).then(|| format!("SET {}", clauses.join(", ")))
    }

    /// What of these settings differs from the stored record.
    fn changes(&self, stored: &Stored) -> Settings {
        Settings {
            active: self.active.filter(|a| stored.active != Some(*a)),
            currencies: self
                .currencies
                .clone()
                .filter(|c| stored.currencies.as_ref() != Some(c)),
        }
    }

    fn is_empty(&self) -> bool {
        self.active.is_none() && self.currencies.is_none()
    }
}

impl Calls {
    fn aws(&self, why: &'static str, args: &[&str]) -> Step {
        deploy::aws(why, args, &self.options)
    }

    /// Every key of this merchant carries this name (rotated ones too; names need not be
    /// unique), so a key left by a run that stopped is found by it.
    pub fn key_name(&self) -> String {
        format!("payment-api-key-{}-{}", self.stack.suffix, self.merchant)
    }

    fn key(&self) -> String {
        records::key(&self.merchant).to_string()
    }

    pub fn merchants_table(&self) -> Step {
        super::stack_resource(
            &self.stack,
            MERCHANTS_TABLE,
            "find the stack's merchant table",
            &self.options,
        )
    }

    pub fn usage_plan(&self) -> Step {
        super::stack_resource(
            &self.stack,
            USAGE_PLAN,
            "find the stack's usage plan (a key works only in a usage plan of the API's stage)",
            &self.options,
        )
    }

    pub fn read_record(&self, table: &str) -> Step {
        self.aws(
            "read the merchant's record (a consistent read: what follows depends on it)",
            &[
                "dynamodb",
                "get-item",
                "--table-name",
                table,
                "--key",
                &self.key(),
                "--consistent-read",
                "--output",
                "json",
            ],
        )
    }

    /// `--name-query` matches names that start with it; `parse_keys` keeps the exact name.
    pub fn keys_named(&self) -> Step {
        self.aws(
            "find keys named after the merchant: an enabled one that no record binds was left by a run that stopped, and is reused",
            &[
                "apigateway",
                "get-api-keys",
                "--name-query",
                &self.key_name(),
                "--query",
                "items[].[name,id,enabled]",
                "--output",
                "text",
            ],
        )
    }

    pub fn create_key(&self) -> Step {
        let description = format!("Key of merchant {} ({}).", self.merchant, self.stack.name);
        let tags = format!("Environment={},merchant_id={}", self.env, self.merchant);
        self.aws(
            "create the merchant's API key (API Gateway generates its value)",
            &[
                "apigateway",
                "create-api-key",
                "--name",
                &self.key_name(),
                "--description",
                &description,
                "--enabled",
                "--tags",
                &tags,
                "--query",
                "id",
                "--output",
                "text",
            ],
        )
    }

    pub fn add_to_plan(&self, plan: &str, key: &str) -> Step {
        self.aws(
            "add it to the stack's usage plan (a key already there answers ConflictException: fine)",
            &[
                "apigateway",
                "create-usage-plan-key",
                "--usage-plan-id",
                plan,
                "--key-id",
                key,
                "--key-type",
                "API_KEY",
            ],
        )
    }

    pub fn put_record(
        &self,
        table: &str,
        active: bool,
        currencies: &Currencies,
        key: &str,
    ) -> Step {
        let keys = BTreeSet::from([key.to_string()]);
        let item = records::item(&self.merchant, active, currencies, &keys).to_string();
        self.aws(
            "write the merchant's record binding the key (never over an existing record)",
            &[
                "dynamodb",
                "put-item",
                "--table-name",
                table,
                "--item",
                &item,
                "--condition-expression",
                "attribute_not_exists(merchant_id)",
            ],
        )
    }

    pub fn bind_key(&self, table: &str, key: &str, settings: &Settings) -> Step {
        let mut values = serde_json::Map::new();
        values.insert(":key".into(), json!({ "SS": [key] }));
        let mut expression = "ADD api_key_ids :key".to_string();
        if let Some(set) = settings.set_clause(&mut values) {
            expression = format!("{expression} {set}");
        }
        self.update(
            "bind the new key in the merchant's record (the keys it binds keep working)",
            table,
            &expression,
            "attribute_exists(merchant_id)",
            values,
        )
    }

    pub fn update_settings(&self, table: &str, settings: &Settings) -> Step {
        let mut values = serde_json::Map::new();
        let expression = settings.set_clause(&mut values).unwrap_or_default();
        self.update(
            "write what changed in the record (--active, --currency)",
            table,
            &expression,
            "attribute_exists(merchant_id)",
            values,
        )
    }

    pub fn unbind_key(&self, table: &str, key: &str) -> Step {
        let mut values = serde_json::Map::new();
        values.insert(":key".into(), json!({ "SS": [key] }));
        values.insert(":id".into(), json!({ "S": key }));
        values.insert(":one".into(), json!({ "N": "1" }));
        self.update(
            "unbind the old key (refused if it is the merchant's last: DynamoDB keeps no empty set, and the validator requires one)",
            table,
            "DELETE api_key_ids :key",
            "contains(api_key_ids, :id) AND size(api_key_ids) > :one",
            values,
        )
    }

    fn update(
        &self,
        why: &'static str,
        table: &str,
        expression: &str,
        condition: &str,
        values: serde_json::Map<String, serde_json::Value>,
    ) -> Step {
        let values = serde_json::Value::Object(values).to_string();
        self.aws(
            why,
            &[
                "dynamodb",
                "update-item",
                "--table-name",
                table,
                "--key",
                &self.key(),
                "--update-expression",
                expression,
                "--condition-expression",
                condition,
                "--expression-attribute-values",
                &values,
            ],
        )
    }

    pub fn read_key(&self, key: &str) -> Step {
        self.aws(
            "read the key: one that no record binds is disabled only if it is named after this merchant",
            &[
                "apigateway",
                "get-api-key",
                "--api-key",
                key,
                "--query",
                "[name,enabled]",
                "--output",
                "text",
            ],
        )
    }

    pub fn disable_key(&self, key: &str) -> Step {
        self.aws(
            "disable it: API Gateway answers 403 to it from now on (the key is kept, disabled, as a record)",
            &[
                "apigateway",
                "update-api-key",
                "--api-key",
                key,
                "--patch-operations",
                "op=replace,path=/enabled,value=false",
            ],
        )
    }

    pub fn fetch_value(&self, key: &str) -> Step {
        self.aws(
            "fetch the key's value to hand to the merchant (a secret: never in a ticket, a chat or a log)",
            &[
                "apigateway",
                "get-api-key",
                "--api-key",
                key,
                "--include-value",
                "--query",
                "value",
                "--output",
                "text",
            ],
        )
    }
}

/// How an onboarding ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new record, binding `key` (`reused`: a key left by a run that stopped).
    Created { key: String, reused: bool },
    /// One more key bound to the existing record.
    Bound { key: String, reused: bool },
    /// The record already bound a key; only `--active` / `--currency` changes were written.
    Updated { keys: BTreeSet<String> },
    /// Nothing to change.
    Unchanged { keys: BTreeSet<String> },
    /// `--retire-key`: unbound (if it was) and disabled (if it was enabled).
    Retired {
        key: String,
        unbound: bool,
        disabled: bool,
    },
}

/// `get-api-keys … --query items[].[name,id,enabled] --output text` (one `name\tid\tTrue` a
/// line): the (id, enabled) of the keys named exactly `name`.
fn parse_keys(text: &str, name: &str) -> Vec<(String, bool)> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
            match fields[..] {
                [found, id, enabled] if found == name => {
                    Some((id.to_string(), enabled.eq_ignore_ascii_case("true")))
                }
                _ => None,
            }
        })
        .collect()
}

/// CreateUsagePlanKey for a key already in the plan: 409 ConflictException.
fn already_in_plan(error: &str) -> bool {
    error.contains("ConflictException")
}

fn condition_failed(error: &str) -> bool {
    error.contains("ConditionalCheckFailed")
}

// ANCHOR: onboard
/// Decides and runs an onboarding over `runner`.
pub fn onboard(
    calls: &Calls,
    options: &Options,
    runner: &mut dyn Runner,
) -> Result<Outcome, String> {
    let table = super::physical_id(
        runner.run(&calls.merchants_table()),
        &calls.stack,
        MERCHANTS_TABLE,
    )?;
    let stored = records::parse_get_item(&runner.run(&calls.read_record(&table))?)?;
    if let Request::Retire(key) = &options.request {
        return retire(calls, &table, stored, key, runner);
    }
    let settings = Settings {
        active: options.active,
        currencies: options.currencies.clone(),
    };
    let bound = stored
        .as_ref()
        .map(|s| s.api_key_ids.clone())
        .unwrap_or_default();
    if let Some(stored) = &stored
        && !bound.is_empty()
        && options.request == Request::Bind
    {
        let changes = settings.changes(stored);
        if changes.is_empty() {
            return Ok(Outcome::Unchanged { keys: bound });
        }
        runner.run(&calls.update_settings(&table, &changes))?;
        return Ok(Outcome::Updated { keys: bound });
    }
    // A key is needed: reuse an enabled one named after the merchant that no record binds
    // (a run that stopped after creating it), else create one.
    let plan = super::physical_id(runner.run(&calls.usage_plan()), &calls.stack, USAGE_PLAN)?;
    let leftover = parse_keys(&runner.run(&calls.keys_named())?, &calls.key_name())
        .into_iter()
        .find(|(id, enabled)| *enabled && !bound.contains(id));
    let (key, reused) = match leftover {
        Some((id, _)) => (id, true),
        None => {
            let id = runner.run(&calls.create_key())?.trim().to_string();
            if id.is_empty() || id == "None" {
                return Err("create-api-key answered no key id".into());
            }
            (id, false)
        }
    };
    match runner.run(&calls.add_to_plan(&plan, &key)) {
        Err(e) if !already_in_plan(&e) => return Err(e),
        _ => {}
    }
    let written = match &stored {
        None => runner.run(&calls.put_record(
            &table,
            options.active.unwrap_or(true),
            &options.currencies.clone().unwrap_or_default(),
            &key,
        )),
        Some(stored) => runner.run(&calls.bind_key(&table, &key, &settings.changes(stored))),
    };
    match written {
        Err(e) if condition_failed(&e) => Err(format!(
            "the merchant's record changed while this ran (another onboarding?): run the same command again; \
             it reuses the key {key}"
        )),
        Err(e) => Err(e),
        Ok(_) if stored.is_none() => Ok(Outcome::Created { key, reused }),
        Ok(_) => Ok(Outcome::Bound { key, reused }),
    }
}

/// `--retire-key`: unbind it from the record (never the last key), then disable it. A key the
/// record no longer binds (a run that stopped in between) is disabled only when it is
/// named after this merchant, so another integration's key is never touched.
fn retire(
    calls: &Calls,
    table: &str,
    stored: Option<Stored>,
    key: &str,
    runner: &mut dyn Runner,
) -> Result<Outcome, String> {
    let stored = stored.ok_or_else(|| format!("{} has no merchant record", calls.merchant))?;
    let unbound = stored.api_key_ids.contains(key);
    if unbound {
        if stored.api_key_ids.len() == 1 {
            return Err(format!(
                "{key} is the only key of {}: bind a new one first (--new-key), move the merchant to it, then retire {key}",
                calls.merchant
            ));
        }
        runner
            .run(&calls.unbind_key(table, key))
            .map_err(|e| match condition_failed(&e) {
                true => "the record changed while this ran: run the same command again".to_string(),
                false => e,
            })?;
    }
    let enabled = if unbound {
        true
    } else {
        let answer = runner.run(&calls.read_key(key))?;
        let mut fields = answer.split_whitespace();
        let (name, enabled) = (fields.next().unwrap_or(""), fields.next().unwrap_or(""));
        if name != calls.key_name() {
            return Err(format!(
                "{key} is not bound to {} and is named {name:?}, not {}: refusing to disable another integration's key",
                calls.merchant,
                calls.key_name()
            ));
        }
        enabled.eq_ignore_ascii_case("true")
    };
    if enabled {
        runner.run(&calls.disable_key(key))?;
    }
    Ok(Outcome::Retired {
        key: key.to_string(),
        unbound,
        disabled: enabled,
    })
}
// ANCHOR_END: onboard

/// Placeholders of the dry run: what the stack and API Gateway answer.
const TABLE: &str = "<merchants-table>";
const PLAN: &str = "<usage-plan-id>";
const NEW_KEY: &str = "<new-key-id>";

/// The calls of the usual case, for `--dry-run` and the runbook: a first onboarding (no
/// record), a rotation (a record with a key) or a retirement.
pub fn plan(calls: &Calls, options: &Options) -> Vec<Step> {
    let mut steps = vec![calls.merchants_table(), calls.read_record(TABLE)];
    let settings = Settings {
        active: options.active,
        currencies: options.currencies.clone(),
    };
    match &options.request {
        Request::Retire(key) => {
            steps.push(calls.unbind_key(TABLE, key));
            steps.push(calls.disable_key(key));
        }
        request => {
            steps.push(calls.usage_plan());
            steps.push(calls.keys_named());
            steps.push(calls.create_key());
            steps.push(calls.add_to_plan(PLAN, NEW_KEY));
            steps.push(match request {
                Request::NewKey => calls.bind_key(TABLE, NEW_KEY, &settings),
                _ => calls.put_record(
                    TABLE,
                    options.active.unwrap_or(true),
                    &options.currencies.clone().unwrap_or_default(),
                    NEW_KEY,
                ),
            });
        }
    }
    steps
}

/// The dry run as the runbook shows it.
pub fn dry_run(calls: &Calls, options: &Options) -> String {
    let what = match &options.request {
        Request::Bind => {
            "a merchant without a record; one whose record binds a key gets no new key (only --active/--currency changes are written)"
        }
        Request::NewKey => {
            "a merchant whose record exists: one more key, bound next to the old one"
        }
        Request::Retire(_) => "a key the record binds, and at least one other",
    };
    let placeholders = match &options.request {
        Request::Retire(_) => format!("{TABLE}: the stack's, from list-stack-resources"),
        _ => format!(
            "{TABLE}, {PLAN}: the stack's, from list-stack-resources; {NEW_KEY}: create-api-key's answer"
        ),
    };
    let mut text = format!("# {placeholders}\n# the commands for {what}\n\n");
    text += &deploy::render(&plan(calls, options));
    if !matches!(options.request, Request::Retire(_)) {
        text += "\n# then, by hand:\n";
        text += &deploy::render(&[calls.fetch_value(NEW_KEY)]);
    }
    text
}

pub fn run(project: &Project, args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    let stack = super::stack(project, &options.common)?;
    let calls = Calls {
        stack,
        env: options.common.env.clone(),
        merchant: options.merchant.clone(),
        options: options.common.aws_options(),
    };
    if options.common.dry_run {
        println!(
            "# cargo xtask onboard --env {} --merchant {} (dry run: nothing is called)",
            options.common.env, options.merchant
        );
        print!("{}", dry_run(&calls, &options));
        return Ok(());
    }
    let mut runner = super::runner(project, &options.common)?;
    let outcome = onboard(&calls, &options, &mut runner)?;
    let fetch = |key: &str| deploy::shell_words(&calls.fetch_value(key).argv);
    match outcome {
        Outcome::Created { key, reused } | Outcome::Bound { key, reused } => {
            let how = if reused { "reused" } else { "created" };
            println!(
                "{} is onboarded on {}: API key {key} ({how}) is in the usage plan and bound in its record.\n\
                 Its value, for the merchant: {}",
                options.merchant,
                calls.stack.name,
                fetch(&key)
            );
        }
        Outcome::Updated { keys } | Outcome::Unchanged { keys } => {
            println!(
                "{} was already onboarded (keys {}); no key created. \
                 Rotate with --new-key, then --retire-key <old id>.",
                options.merchant,
                keys.iter().cloned().collect::<Vec<_>>().join(", "),
            );
        }
        Outcome::Retired {
            key,
            unbound,
            disabled,
        } => println!(
            "{key}: {} and {}.",
            if unbound {
                "unbound from the record"
            } else {
                "was no longer bound"
            },
            if disabled {
                "disabled"
            } else {
                "was already disabled"
            }
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::tests::{Fake, common, stack_of_env};
    use payment_workflow_book::template::Template;

    fn options(args: &[&str]) -> Options {
        parse(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn calls(options: &Options) -> Calls {
        Calls {
            stack: stack_of_env(&options.common.env),
            env: options.common.env.clone(),
            merchant: options.merchant.clone(),
            options: options.common.aws_options(),
        }
    }

    fn run(
        args: &[&str],
        answers: &[(&str, Result<&str, &str>)],
    ) -> (Result<Outcome, String>, Fake) {
        let options =
            options(&[&["--env", "dev", "--merchant", "merchant-001"][..], args].concat());
        let mut fake = Fake::new(answers);
        let outcome = onboard(&calls(&options), &options, &mut fake);
        (outcome, fake)
    }

    const TABLE: (&str, Result<&str, &str>) = ("\"MerchantsTable\"", Ok("merchant-configs-dev\n"));
    const PLAN: (&str, Result<&str, &str>) = ("\"ApiUsagePlan\"", Ok("plan01\n"));
    const CREATED: (&str, Result<&str, &str>) = ("create-api-key", Ok("newkey01\n"));

    fn record(keys: &[&str], currencies: &str) -> String {
        let keys: Vec<String> = keys.iter().map(|k| format!("\"{k}\"")).collect();
        format!(
            r#"{{"Item": {{"merchant_id": {{"S": "merchant-001"}}, "active": {{"BOOL": true}},
            "api_key_ids": {{"SS": [{}]}}{currencies}}}}}"#,
            keys.join(", ")
        )
    }

    const EUR: &str = r#", "currencies": {"M": {"EUR": {"M": {"min_amount_minor": {"N": "100"}, "max_amount_minor": {"N": "1000000"}}}}}"#;

    #[test]
    fn a_new_merchant_gets_a_key_in_the_usage_plan_and_a_record_binding_it() {
        let (outcome, fake) = run(&["--currency", "EUR:100:1000000"], &[TABLE, PLAN, CREATED]);
        assert_eq!(
            outcome.unwrap(),
            Outcome::Created {
                key: "newkey01".into(),
                reused: false
            }
        );
        let order = [
            "\"MerchantsTable\"",
            "get-item --table-name merchant-configs-dev",
            "\"ApiUsagePlan\"",
            "get-api-keys --name-query payment-api-key-dev-merchant-001",
            "create-api-key --name payment-api-key-dev-merchant-001",
            "create-usage-plan-key --usage-plan-id plan01 --key-id newkey01 --key-type API_KEY",
            "put-item --table-name merchant-configs-dev",
        ]
        .map(|step| fake.position(step));
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{:#?}", fake.asked);
        let put = &fake.asked[fake.position("put-item")];
        assert!(
            put.contains(r#""api_key_ids":{"SS":["newkey01"]}"#),
            "{put}"
        );
        assert!(put.contains(r#""active":{"BOOL":true}"#) && put.contains(r#""EUR""#));
        assert!(put.contains("--condition-expression 'attribute_not_exists(merchant_id)'"));
    }

    #[test]
    fn running_it_again_for_an_onboarded_merchant_creates_nothing() {
        let stored = record(&["key01"], EUR);
        let (outcome, fake) = run(
            &["--currency", "EUR:100:1000000"],
            &[TABLE, PLAN, CREATED, ("get-item", Ok(&stored))],
        );
        assert_eq!(
            outcome.unwrap(),
            Outcome::Unchanged {
                keys: BTreeSet::from(["key01".to_string()])
            }
        );
        for write in [
            "create-api-key",
            "create-usage-plan-key",
            "put-item",
            "update-item",
        ] {
            assert!(!fake.called(write), "{write}: {:#?}", fake.asked);
        }
        // Other limits or --active: only those are written, still no key.
        let (outcome, fake) = run(
            &["--currency", "EUR:100:5000", "--active", "false"],
            &[TABLE, PLAN, CREATED, ("get-item", Ok(&stored))],
        );
        assert!(matches!(outcome.unwrap(), Outcome::Updated { .. }));
        let update = &fake.asked[fake.position("update-item")];
        assert!(
            update.contains("SET active = :active, currencies = :currencies"),
            "{update}"
        );
        assert!(update.contains(r#""N":"5000""#) && !fake.called("create-api-key"));
    }

    #[test]
    fn a_key_left_by_a_run_that_stopped_is_reused_not_duplicated() {
        let (outcome, fake) = run(
            &[],
            &[
                TABLE,
                PLAN,
                CREATED,
                (
                    "get-api-keys",
                    Ok("payment-api-key-dev-merchant-001\toldkey\tFalse\n\
                        payment-api-key-dev-merchant-0012\tother\tTrue\n\
                        payment-api-key-dev-merchant-001\tleftover\tTrue\n"),
                ),
                (
                    "create-usage-plan-key",
                    Err(
                        "An error occurred (ConflictException) when calling the CreateUsagePlanKey operation: Usage Plan plan01 cannot be added because API Key leftover cannot reference multiple Usage Plans with the same API Stage",
                    ),
                ),
            ],
        );
        assert_eq!(
            outcome.unwrap(),
            Outcome::Created {
                key: "leftover".into(),
                reused: true
            }
        );
        assert!(!fake.called("create-api-key"));
        assert!(fake.asked[fake.position("put-item")].contains(r#"["leftover"]"#));
        // Only an enabled key is reused: a disabled one was retired on purpose.
        let (outcome, _) = run(
            &[],
            &[
                TABLE,
                PLAN,
                CREATED,
                (
                    "get-api-keys",
                    Ok("payment-api-key-dev-merchant-001\toldkey\tFalse\n"),
                ),
            ],
        );
        assert!(matches!(
            outcome.unwrap(),
            Outcome::Created { reused: false, .. }
        ));
        // Any other refusal of the usage plan stops the run before the record is written.
        let (outcome, fake) = run(
            &[],
            &[
                TABLE,
                PLAN,
                CREATED,
                ("create-usage-plan-key", Err("NotFoundException")),
            ],
        );
        assert!(outcome.is_err() && !fake.called("put-item"));
    }

    #[test]
    fn new_key_binds_a_second_key_next_to_the_first() {
        let stored = record(&["key01"], "");
        let (outcome, fake) = run(
            &["--new-key"],
            &[TABLE, PLAN, CREATED, ("get-item", Ok(&stored))],
        );
        assert_eq!(
            outcome.unwrap(),
            Outcome::Bound {
                key: "newkey01".into(),
                reused: false
            }
        );
        let update = &fake.asked[fake.position("update-item")];
        assert!(
            update.contains("--update-expression 'ADD api_key_ids :key'"),
            "{update}"
        );
        assert!(
            update.contains(r#"{":key":{"SS":["newkey01"]}}"#),
            "{update}"
        );
        assert!(update.contains("attribute_exists(merchant_id)") && !fake.called("put-item"));
        // The bound key is not taken for a leftover.
        let (outcome, _) = run(
            &["--new-key"],
            &[
                TABLE,
                PLAN,
                CREATED,
                ("get-item", Ok(&stored)),
                (
                    "get-api-keys",
                    Ok("payment-api-key-dev-merchant-001\tkey01\tTrue\n"),
                ),
            ],
        );
        assert!(matches!(
            outcome.unwrap(),
            Outcome::Bound { reused: false, .. }
        ));
    }

    #[test]
    fn a_record_written_meanwhile_fails_the_run_with_what_to_do() {
        let (outcome, _) = run(
            &[],
            &[
                TABLE,
                PLAN,
                CREATED,
                (
                    "put-item",
                    Err(
                        "An error occurred (ConditionalCheckFailedException) when calling the PutItem operation: The conditional request failed",
                    ),
                ),
            ],
        );
        let error = outcome.unwrap_err();
        assert!(error.contains("run the same command again") && error.contains("newkey01"));
    }

    #[test]
    fn retire_key_unbinds_then_disables_and_never_removes_the_last_key() {
        let two = record(&["key01", "key02"], "");
        let (outcome, fake) = run(&["--retire-key", "key01"], &[TABLE, ("get-item", Ok(&two))]);
        assert_eq!(
            outcome.unwrap(),
            Outcome::Retired {
                key: "key01".into(),
                unbound: true,
                disabled: true
            }
        );
        let unbind = fake.position("--update-expression 'DELETE api_key_ids :key'");
        assert!(unbind < fake.position("update-api-key --api-key key01 --patch-operations op=replace,path=/enabled,value=false"));
        assert!(fake.asked[unbind].contains("size(api_key_ids) > :one"));
        assert!(!fake.called("create-api-key") && !fake.called("ApiUsagePlan"));
        let one = record(&["key01"], "");
        let (outcome, fake) = run(&["--retire-key", "key01"], &[TABLE, ("get-item", Ok(&one))]);
        assert!(outcome.unwrap_err().contains("--new-key"));
        assert!(!fake.called("update-item") && !fake.called("update-api-key"));
    }

    #[test]
    fn retire_key_finishes_a_stopped_retirement_but_never_touches_another_merchants_key() {
        let rest = record(&["key02"], "");
        let mine = (
            "get-api-key --api-key key01",
            Ok("payment-api-key-dev-merchant-001\tTrue\n"),
        );
        let (outcome, fake) = run(
            &["--retire-key", "key01"],
            &[TABLE, ("get-item", Ok(&rest)), mine],
        );
        assert_eq!(
            outcome.unwrap(),
            Outcome::Retired {
                key: "key01".into(),
                unbound: false,
                disabled: true
            }
        );
        assert!(fake.called("update-api-key") && !fake.called("update-item"));
        let done = (
            "get-api-key --api-key key01",
            Ok("payment-api-key-dev-merchant-001\tFalse\n"),
        );
        let (outcome, fake) = run(
            &["--retire-key", "key01"],
            &[TABLE, ("get-item", Ok(&rest)), done],
        );
        assert!(matches!(
            outcome.unwrap(),
            Outcome::Retired {
                disabled: false,
                ..
            }
        ));
        assert!(!fake.called("update-api-key"));
        let theirs = (
            "get-api-key --api-key key01",
            Ok("payment-api-key-dev-merchant-0011\tTrue\n"),
        );
        let (outcome, fake) = run(
            &["--retire-key", "key01"],
            &[TABLE, ("get-item", Ok(&rest)), theirs],
        );
        assert!(outcome.unwrap_err().contains("refusing"));
        assert!(!fake.called("update-api-key"));
    }

    #[test]
    fn options_are_checked() {
        let parse = |args: &[&str]| parse(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>());
        assert!(parse(&["--env", "dev"]).is_err(), "--merchant is required");
        assert!(parse(&["--env", "dev", "--merchant", "m/1"]).is_err());
        assert!(
            parse(&[
                "--env",
                "dev",
                "--merchant",
                "m01",
                "--new-key",
                "--retire-key",
                "k"
            ])
            .is_err()
        );
        assert!(parse(&["--env", "dev", "--merchant", "m01", "--retire-key", "k;rm"]).is_err());
        assert!(
            parse(&[
                "--env",
                "dev",
                "--merchant",
                "m01",
                "--currency",
                "EUR:1:2",
                "--currency",
                "EUR:1:3"
            ])
            .is_err()
        );
        assert!(parse(&["--env", "dev", "--merchant", "m01", "--active", "yes"]).is_err());
        let parsed = options(&[
            "--env",
            "dev",
            "--merchant",
            "m01",
            "--currency",
            "EUR:1:2",
            "--currency",
            "JPY:1:9",
        ]);
        assert_eq!(parsed.currencies.unwrap().len(), 2);
        assert_eq!(parsed.common, common(&["--env", "dev"]));
    }

    #[test]
    fn the_stack_has_the_resources_onboarding_reads() {
        let template = Template::load_from(Project::locate().path(deploy::TEMPLATE));
        assert_eq!(
            template.resource(USAGE_PLAN)["Type"].as_str(),
            Some("AWS::ApiGateway::UsagePlan")
        );
        assert_eq!(
            template.resource(MERCHANTS_TABLE)["Type"].as_str(),
            Some("AWS::DynamoDB::Table")
        );
        let key = &template.resource(MERCHANTS_TABLE)["Properties"]["KeySchema"][0];
        assert_eq!(key["AttributeName"].as_str(), Some("merchant_id"));
    }

    #[test]
    fn the_runbook_shows_onboarding_and_key_rotation_as_generated() {
        let first = options(&[
            "--env",
            "dev",
            "--merchant",
            "merchant-001",
            "--currency",
            "EUR:100:1000000",
        ]);
        // Placeholders are no merchant ids: set after parsing.
        let placeholder = |args: &[&str]| Options {
            merchant: "<merchant-id>".into(),
            ..options(&[&["--env", "prod", "--merchant", "m01"][..], args].concat())
        };
        let (rotate, retire) = (
            placeholder(&["--new-key"]),
            placeholder(&["--retire-key", "OLDKEY"]),
        );
        let header = "<!-- generated by the_runbook_shows_onboarding_and_key_rotation_as_generated \
                      (code/xtask/src/ops/onboard.rs); `cargo xtask regen` -->\n";
        let text = format!(
            "{header}```sh\n# cargo xtask onboard --env dev --merchant merchant-001 --currency EUR:100:1000000\n{}```\n",
            dry_run(&calls(&first), &first)
        );
        payment_workflow_book::generated::check("src/generated/runbook-onboard.md", &text);
        let text = format!(
            "{header}```sh\n# cargo xtask onboard --env prod --merchant <merchant-id> --new-key\n{}\n\
             # cargo xtask onboard --env prod --merchant <merchant-id> --retire-key <old-key-id>\n{}```\n",
            dry_run(&calls(&rotate), &rotate),
            dry_run(&calls(&retire), &retire).replace("OLDKEY", "<old-key-id>")
        );
        payment_workflow_book::generated::check("src/generated/runbook-rotate-key.md", &text);
    }
}
