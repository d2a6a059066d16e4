//! Generated support text for the seed: ticket subjects, descriptions and
//! comments, and knowledge-base articles (Markdown-ish, 150 to 1,500
//! words), all from word lists, never downloaded.
//!
//! The vocabulary is built so that a full-text search has both common and
//! selective words: about 150 product areas, 90 verbs and 80 adjectives
//! drawn with a Zipf-like skew (they occur in thousands of articles), and
//! about 3,000 feature names made of a prefix and a root ("Autosync",
//! "Microvault", "Hyperledger"), each the topic of a few dozen articles and
//! mentioned in passing by a hundred or so more. Each article is about one
//! area and one feature, so a feature name, or an area with a feature,
//! finds tens to a few hundred articles among 100,000.

use std::sync::OnceLock;

use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;

/// Product areas: what tickets and articles are about.
const AREAS: &[&str] = &[
    "account",
    "invoice",
    "report",
    "dashboard",
    "export",
    "import",
    "webhook",
    "integration",
    "password",
    "user",
    "team",
    "workspace",
    "permission",
    "role",
    "notification",
    "email",
    "template",
    "subscription",
    "plan",
    "payment",
    "refund",
    "order",
    "contact",
    "customer",
    "ticket",
    "inbox",
    "workflow",
    "automation",
    "pipeline",
    "calendar",
    "attachment",
    "search",
    "filter",
    "tag",
    "label",
    "form",
    "survey",
    "widget",
    "chart",
    "spreadsheet",
    "backup",
    "archive",
    "token",
    "session",
    "domain",
    "signature",
    "macro",
    "trigger",
    "queue",
    "schedule",
    "license",
    "seat",
    "trial",
    "receipt",
    "currency",
    "tax rate",
    "discount",
    "coupon",
    "credit note",
    "price list",
    "product",
    "catalog",
    "warehouse",
    "shipment",
    "carrier",
    "address",
    "mailbox",
    "alias",
    "forwarding rule",
    "mobile app",
    "browser extension",
    "api key",
    "audit log",
    "sandbox",
    "custom field",
    "layout",
    "view",
    "folder",
    "note",
    "task",
    "reminder",
    "comment",
    "mention",
    "group",
    "organization",
    "territory",
    "segment",
    "campaign",
    "lead",
    "deal",
    "contract",
    "quote",
    "approval",
    "escalation",
    "holiday calendar",
    "time zone",
    "language",
    "theme",
    "logo",
    "avatar",
    "profile",
    "status page",
    "knowledge base",
    "article",
    "snippet",
    "shortcut",
    "keyboard shortcut",
    "data retention",
    "storage",
    "quota",
    "upload",
    "download",
    "connector",
    "sync",
    "feed",
    "board",
    "card",
    "checklist",
    "timeline",
    "activity",
    "call",
    "recording",
    "transcript",
    "chat",
    "chatbot",
    "survey response",
    "single sign-on",
    "two-factor login",
    "recovery code",
    "device",
    "certificate",
    "firewall",
    "ip allowlist",
    "data export",
    "billing contact",
    "payment method",
    "bank transfer",
    "credit card",
    "dunning email",
    "usage report",
    "invoice template",
    "sales tax",
    "vat number",
    "purchase order",
    "delivery note",
    "return",
    "exchange",
    "gift card",
];

/// Verbs: base form, past participle, gerund.
const VERBS: &[(&str, &str, &str)] = &[
    ("configure", "configured", "configuring"),
    ("enable", "enabled", "enabling"),
    ("disable", "disabled", "disabling"),
    ("update", "updated", "updating"),
    ("export", "exported", "exporting"),
    ("import", "imported", "importing"),
    ("connect", "connected", "connecting"),
    ("disconnect", "disconnected", "disconnecting"),
    ("reset", "reset", "resetting"),
    ("delete", "deleted", "deleting"),
    ("restore", "restored", "restoring"),
    ("archive", "archived", "archiving"),
    ("rename", "renamed", "renaming"),
    ("merge", "merged", "merging"),
    ("duplicate", "duplicated", "duplicating"),
    ("assign", "assigned", "assigning"),
    ("share", "shared", "sharing"),
    ("invite", "invited", "inviting"),
    ("schedule", "scheduled", "scheduling"),
    ("verify", "verified", "verifying"),
    ("upgrade", "upgraded", "upgrading"),
    ("downgrade", "downgraded", "downgrading"),
    ("cancel", "cancelled", "cancelling"),
    ("synchronize", "synchronized", "synchronizing"),
    ("migrate", "migrated", "migrating"),
    ("map", "mapped", "mapping"),
    ("sort", "sorted", "sorting"),
    ("customize", "customized", "customizing"),
    ("translate", "translated", "translating"),
    ("troubleshoot", "troubleshot", "troubleshooting"),
    ("recover", "recovered", "recovering"),
    ("set up", "set up", "setting up"),
    ("turn on", "turned on", "turning on"),
    ("turn off", "turned off", "turning off"),
    ("add", "added", "adding"),
    ("remove", "removed", "removing"),
    ("edit", "edited", "editing"),
    ("create", "created", "creating"),
    ("copy", "copied", "copying"),
    ("move", "moved", "moving"),
    ("print", "printed", "printing"),
    ("send", "sent", "sending"),
    ("receive", "received", "receiving"),
    ("approve", "approved", "approving"),
    ("reject", "rejected", "rejecting"),
    ("refund", "refunded", "refunding"),
    ("charge", "charged", "charging"),
    ("renew", "renewed", "renewing"),
    ("transfer", "transferred", "transferring"),
    ("lock", "locked", "locking"),
    ("unlock", "unlocked", "unlocking"),
    ("hide", "hidden", "hiding"),
    ("show", "shown", "showing"),
    ("filter", "filtered", "filtering"),
    ("search", "searched", "searching"),
    ("group", "grouped", "grouping"),
    ("tag", "tagged", "tagging"),
    ("link", "linked", "linking"),
    ("unlink", "unlinked", "unlinking"),
    ("embed", "embedded", "embedding"),
    ("publish", "published", "publishing"),
    ("preview", "previewed", "previewing"),
    ("test", "tested", "testing"),
    ("validate", "validated", "validating"),
    ("encrypt", "encrypted", "encrypting"),
    ("rotate", "rotated", "rotating"),
    ("revoke", "revoked", "revoking"),
    ("retry", "retried", "retrying"),
    ("pause", "paused", "pausing"),
    ("resume", "resumed", "resuming"),
    ("split", "split", "splitting"),
    ("combine", "combined", "combining"),
    ("attach", "attached", "attaching"),
    ("upload", "uploaded", "uploading"),
    ("download", "downloaded", "downloading"),
    ("limit", "limited", "limiting"),
    ("track", "tracked", "tracking"),
    ("notify", "notified", "notifying"),
    ("escalate", "escalated", "escalating"),
    ("prioritize", "prioritized", "prioritizing"),
    ("calculate", "calculated", "calculating"),
    ("round", "rounded", "rounding"),
    ("convert", "converted", "converting"),
    ("reconcile", "reconciled", "reconciling"),
    ("authorize", "authorized", "authorizing"),
    ("deactivate", "deactivated", "deactivating"),
    ("reactivate", "reactivated", "reactivating"),
    ("batch", "batched", "batching"),
    ("throttle", "throttled", "throttling"),
    ("monitor", "monitored", "monitoring"),
];

const ADJECTIVES: &[&str] = &[
    "default",
    "custom",
    "shared",
    "private",
    "public",
    "active",
    "inactive",
    "archived",
    "pending",
    "failed",
    "expired",
    "locked",
    "hidden",
    "visible",
    "primary",
    "secondary",
    "automatic",
    "manual",
    "recurring",
    "scheduled",
    "temporary",
    "permanent",
    "duplicate",
    "missing",
    "invalid",
    "empty",
    "partial",
    "complete",
    "unpaid",
    "overdue",
    "outgoing",
    "incoming",
    "internal",
    "external",
    "legacy",
    "new",
    "old",
    "latest",
    "previous",
    "daily",
    "weekly",
    "monthly",
    "annual",
    "encrypted",
    "verified",
    "unverified",
    "read-only",
    "required",
    "optional",
    "restricted",
    "global",
    "regional",
    "local",
    "bulk",
    "single",
    "nested",
    "linked",
    "orphaned",
    "stale",
    "slow",
    "large",
    "blank",
    "broken",
    "wrong",
    "separate",
    "mobile",
    "offline",
    "online",
    "trusted",
    "unknown",
    "preferred",
    "standard",
    "premium",
    "enterprise",
    "free",
    "discounted",
    "refundable",
    "taxable",
    "exempt",
];

const PROBLEMS: &[&str] = &[
    "error",
    "timeout",
    "delay",
    "mismatch",
    "conflict",
    "crash",
    "warning",
    "failure",
    "bounce",
    "rejection",
    "loop",
    "lag",
    "discrepancy",
    "rounding difference",
    "encoding problem",
    "blank screen",
    "missing field",
    "duplicate entry",
    "permission error",
    "rate limit",
    "sync gap",
    "validation error",
    "login loop",
    "expired link",
    "broken layout",
    "wrong total",
    "double charge",
    "stuck upload",
    "missing notification",
    "slow page",
];

const PLACES: &[&str] = &[
    "Settings",
    "the Admin console",
    "Billing settings",
    "the Integrations page",
    "your profile",
    "the Reports tab",
    "the record page",
    "Developer settings",
    "Team settings",
    "the sidebar",
    "the top bar",
    "the list view",
    "the detail panel",
    "Security settings",
    "Notification preferences",
    "the mobile app",
    "Workspace settings",
    "the Data tab",
    "the Automation builder",
    "the Help menu",
];

const PARTNERS: &[&str] = &[
    "Slack",
    "Gmail",
    "Outlook",
    "Zapier",
    "Salesforce",
    "Shopify",
    "Stripe",
    "QuickBooks",
    "Xero",
    "Jira",
    "GitHub",
    "Zoom",
    "Microsoft Teams",
    "HubSpot",
    "Mailchimp",
    "Twilio",
    "WhatsApp",
    "Google Drive",
    "Dropbox",
    "Okta",
    "Azure AD",
    "OneLogin",
    "Intercom",
    "Segment",
    "BigQuery",
    "Snowflake",
    "Tableau",
    "Looker",
    "PayPal",
    "Adyen",
];

const ROLES: &[&str] = &[
    "admins",
    "agents",
    "managers",
    "owners",
    "viewers",
    "billing contacts",
    "team leads",
];

/// Feature names are a prefix and a root.
const PREFIXES: &[&str] = &[
    "auto", "multi", "re", "pre", "sub", "super", "inter", "over", "micro", "macro", "hyper",
    "meta", "cross", "co", "omni", "tele", "ultra", "poly", "neo", "smart",
];
const ROOTS: &[&str] = &[
    "sync", "flow", "graph", "port", "scope", "stream", "link", "mark", "form", "path", "grid",
    "cast", "gate", "lock", "mesh", "node", "pack", "phase", "plex", "pulse", "rank", "scan",
    "shift", "span", "stack", "tone", "trace", "vault", "wave", "zone", "bridge", "cloud", "core",
    "desk", "dock", "drive", "edge", "field", "frame", "hub", "key", "lane", "layer", "lens",
    "line", "loop", "map", "mode", "net", "pad", "pilot", "pin", "pipe", "point", "pool", "print",
    "queue", "rail", "range", "ray", "relay", "ring", "root", "route", "score", "screen", "seal",
    "sense", "sheet", "shield", "sight", "sign", "site", "slot", "sort", "sound", "source",
    "spark", "sphere", "spot", "stage", "star", "state", "station", "step", "store", "sweep",
    "switch", "table", "task", "text", "tick", "tide", "track", "tree", "type", "unit", "view",
    "vision", "voice", "wall", "ward", "watch", "wire", "word", "work", "yard", "beam", "bolt",
    "book", "box", "brand", "call", "cell", "chain", "chart", "check", "clip", "code", "count",
    "craft", "cube", "deck", "dial", "fuse", "gauge", "glyph", "guard", "helm", "index", "kit",
    "lattice", "ledger", "level", "light", "logic", "matrix", "meter", "motion", "orbit", "panel",
    "pixel", "prism", "quill", "radar", "signal", "vector", "pilot", "forge", "harbor",
];

const TITLES: &[&str] = &[
    "How to {V} {Ts} with {F}",
    "How to {V} your {T} in {U}",
    "How to {V} a {A} {T}",
    "How do I {V} {Ts} in bulk?",
    "Why is my {T} {A}?",
    "Why does {F} show a {P}?",
    "Why {Vg} a {T} fails with a {P}",
    "Why {Ts} are {Vd} twice",
    "Troubleshooting {F} {Ps}",
    "Troubleshooting a {P} when {Vg} {Ts}",
    "{F}: {Vg} {A} {Ts}",
    "Setting up {F} with {I}",
    "What happens to {Ts} when you {V} {F}",
    "Getting started with {F}",
    "{I} integration: {Vg} {Ts}",
    "Understanding {A} {Ts}",
    "Best practices for {Vg} {Ts}",
    "FAQ: {F} and {Ts}",
    "{Vg} {Ts} from {I}",
    "Limits of {F} for {A} {Ts}",
];

const SENTENCES: &[&str] = &[
    "To {V} a {A} {T}, open {U} and select {F}.",
    "If the {T} is {A}, {F} cannot {V} it until an admin has {Vd} the {N}.",
    "You can {V} up to {n} {Ts} at a time with {F}.",
    "{F} checks your {Ts} every {n} minutes, so changes show up shortly after you save them.",
    "When a {N} is {Vd}, the {T} keeps its {A} {N} and the owner gets a notification.",
    "A {P} usually means that the {N} was {Vd} before {F} finished {Vg} the {T}.",
    "Check that the {A} {N} in {U} matches the one in {I}.",
    "Only {R} can {V} {F} for the whole workspace; everyone else sees their own {Ts}.",
    "{F} does not {V} {A} {Ts}: {V} them first, then try again.",
    "This also works with {X} and with {X}.",
    "The {T} shows a {P} when the {N} limit of {n} is reached.",
    "Contact support if the {P} persists after you {V} the {N}.",
    "Each {T} has a {A} {N}, which {F} uses when it has to {V} it.",
    "In {U}, choose **{V} {T}** and confirm.",
    "Changes to a {A} {N} apply to new {Ts} only; existing ones keep their settings.",
    "If you use {I}, {V} the connection first, otherwise {Ts} are {Vd} twice.",
    "The {P} goes away once the {N} is {Vd} again.",
    "{R} receive an email whenever a {T} is {Vd} by {F}.",
    "For {A} {Ts}, {F} keeps a history of the last {n} changes.",
    "You may see a short {P} while {F} is {Vg} large {Ts}.",
    "Use the `{C}` setting to control how often {Ts} are {Vd}.",
    "The API returns the {T} with its `{C}` field set to the {A} value.",
    "We recommend that you {V} the {N} before you {V} any {Ts}.",
    "Older {Ts} are kept for {n} days and then {Vd} automatically.",
    "{X} and {F} share the same {N}, so {Vg} one also {Vd} the other.",
    "When {Vg} {Ts} from {I}, map each {A} {N} to a {N} first.",
    "A {T} that is {A} cannot be {Vd}, but you can still {V} its {N}.",
    "Most {Ps} come from a {A} {N} or a missing permission.",
    "{F} lists every {T} with its {N}, its owner and when it was last {Vd}.",
    "Select several {Ts} in the list view to {V} them in one step.",
    "The {N} setting of {F} is {A} by default.",
    "After you {V} the {T}, reload the page to see the {A} {N}.",
    "If the {P} started after an upgrade, {V} the {N} and sign in again.",
    "Keep in mind that {Vg} a {T} cannot be undone.",
    "Reports count {A} {Ts} separately from {A} ones.",
    "In rare cases {F} reports a {P} for {Ts} created before {n}.",
    "Ask your administrator to {V} {X} if the option is greyed out.",
    "Every change to a {T} is written to the audit log with the user who {Vd} it.",
    "{F} supports {A} and {A} {Ts}, but not {A} ones yet.",
    "Large accounts with more than {n} {Ts} should {V} them in batches.",
];

const STEPS: &[&str] = &[
    "Open {U}.",
    "Click **{V}** next to the {T}.",
    "Select the {Ts} you want to {V}.",
    "Choose **{F}** and set **{A} {N}** to {n}.",
    "Confirm with **Save**; the {T} is {Vd} within a minute.",
    "Go to {U} and find the {N} section.",
    "Turn on **{X}** if you also want to {V} {Ns}.",
    "Enter the {N} from {I} and click **Connect**.",
    "Check the preview, then click **{V} {Ts}**.",
    "Wait until the {P} banner disappears and refresh the page.",
];

const HEADINGS: &[&str] = &[
    "Before you start",
    "Steps",
    "{Vg} the {T}",
    "Troubleshooting",
    "Limits",
    "Permissions",
    "Related settings",
    "Example",
    "What changes for {Ns}",
    "Known issues",
    "{F} and {I}",
    "Frequently asked questions",
];

const SUBJECTS: &[&str] = &[
    "Cannot {V} {T} in {F}",
    "{F} {P} when {Vg} {Ts}",
    "Question about {A} {Ts}",
    "{T} not {Vd} after {Vg} the {N}",
    "How do I {V} a {T}?",
    "{F}: {P} since this morning",
    "Please {V} our {T}",
    "{I} {T} {P}",
    "Refund for order {n}",
    "Invoice {n} shows a {P}",
    "{A} {T} after upgrade",
    "Need help to {V} {Ts}",
    "{P} on the {T} page",
    "Can't {V} the {N} anymore",
];

const DESCRIPTIONS: &[&str] = &[
    "Hi, since yesterday we can't {V} our {Ts}.",
    "We get a {P} every time we try to {V} the {T} in {U}.",
    "Our {I} connection stopped {Vg} {Ns}.",
    "Could you check what is going on? It affects {n} users.",
    "Steps: open {U}, select a {T}, click {V}.",
    "The {T} was {Vd} but the {N} still shows the old value.",
    "This worked fine last week with {F}.",
    "We are on the {A} plan, if that matters.",
    "Is there a way to {V} {A} {Ts} automatically?",
    "A colleague already tried to {V} the {N}, without luck.",
    "It is quite urgent for us, our month end depends on it.",
    "Screenshot attached.",
];

const AGENT_REPLIES: &[&str] = &[
    "Thanks for reaching out! I have {Vd} the {T} on our side; could you try again?",
    "Could you send us a screenshot of the {P} and the name of the {T}?",
    "I have passed this on to our {F} team and will get back to you shortly.",
    "This is fixed now: the {N} was {A}. Let us know if you still see the {P}.",
    "You can {V} {Ts} in {U}; this article explains it step by step.",
    "We found the cause: {X} was {Vg} the same {N}. It is {Vd} now.",
    "I have {Vd} the {N} for your account. The {P} should be gone.",
];

const NOTES: &[&str] = &[
    "Looks like the known {F} {P}; linked the engineering issue.",
    "Customer is on the {A} plan; check the {N} limits before promising anything.",
    "Reproduced with a {A} {T}; {X} seems involved.",
    "Second time this month, flag for the account manager.",
    "Asked engineering whether {Vg} the {N} is safe here.",
];

const CUSTOMER_REPLIES: &[&str] = &[
    "Thanks, that worked!",
    "Still seeing the {P} after {Vg} the {T}.",
    "Here is the screenshot you asked for.",
    "It happened again today with another {T}.",
    "Any news on this? We still cannot {V} the {N}.",
    "Perfect, thank you for the quick help.",
];

const RATING_COMMENTS: &[&str] = &[
    "Quick and helpful, thanks!",
    "Solved on the first reply.",
    "Took a while, but it works now.",
    "Friendly support.",
    "I had to explain the problem twice.",
    "Still not happy with how long this took.",
];

/// Weighted picks with a Zipf-like skew: rank r has weight 1 / (r + 1)^s.
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut total = 0.0;
        let cumulative = (0..n)
            .map(|r| {
                total += 1.0 / ((r + 1) as f64).powf(s);
                total
            })
            .collect();
        Zipf { cumulative }
    }

    fn sample(&self, rng: &mut impl Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let u = rng.random::<f64>() * total;
        self.cumulative
            .partition_point(|c| *c < u)
            .min(self.cumulative.len().saturating_sub(1))
    }
}

/// The words a generator draws from, built once.
pub struct Vocabulary {
    /// Feature names, capitalized ("Autosync").
    features: Vec<String>,
    areas: Zipf,
    verbs: Zipf,
    adjectives: Zipf,
}

pub fn vocabulary() -> &'static Vocabulary {
    static VOCABULARY: OnceLock<Vocabulary> = OnceLock::new();
    VOCABULARY.get_or_init(|| {
        let mut features: Vec<String> = PREFIXES
            .iter()
            .flat_map(|p| ROOTS.iter().map(move |r| format!("{p}{r}")))
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                    .unwrap_or_default()
            })
            .collect();
        features.sort();
        features.dedup();
        Vocabulary {
            features,
            areas: Zipf::new(AREAS.len(), 0.9),
            verbs: Zipf::new(VERBS.len(), 0.8),
            adjectives: Zipf::new(ADJECTIVES.len(), 0.8),
        }
    })
}

/// What one text is about: an area and a feature.
#[derive(Clone, Copy)]
pub struct Topic {
    area: usize,
    feature: usize,
}

fn plural(word: &str) -> String {
    if word.ends_with('s') || word.ends_with('x') || word.ends_with("ch") || word.ends_with("sh") {
        format!("{word}es")
    } else if word.ends_with('y') && !word.ends_with("ay") && !word.ends_with("ey") {
        format!("{}ies", &word[..word.len() - 1])
    } else {
        format!("{word}s")
    }
}

fn capitalize_first(text: &mut String) {
    if let Some(first) = text.chars().next() {
        if first.is_lowercase() {
            let upper: String = first.to_uppercase().collect();
            text.replace_range(..first.len_utf8(), &upper);
        }
    }
}

/// "a" before a vowel becomes "an" ("an expired invoice").
fn with_an(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut words = text.split(' ').peekable();
    while let Some(word) = words.next() {
        let next_vowel = words
            .peek()
            .and_then(|w| w.trim_start_matches(['*', '`']).chars().next())
            .is_some_and(|c| "aeiouAEIOU".contains(c));
        match word {
            "a" if next_vowel => out.push_str("an"),
            "A" if next_vowel => out.push_str("An"),
            w => out.push_str(w),
        }
        if words.peek().is_some() {
            out.push(' ');
        }
    }
    out
}

impl Vocabulary {
    /// A topic: a skewed area, a uniformly drawn feature.
    pub fn topic(&self, rng: &mut impl Rng) -> Topic {
        Topic {
            area: self.areas.sample(rng),
            feature: rng.random_range(0..self.features.len()),
        }
    }

    /// A feature name (for tests and benchmarks that need a known word).
    pub fn feature_name(&self, topic: Topic) -> &str {
        &self.features[topic.feature]
    }

    /// Appends `template` to `out` with its placeholders filled in.
    fn fill(&self, rng: &mut impl Rng, topic: Topic, template: &str, out: &mut String) {
        let start = out.len();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            let key = &rest[open + 1..open + close];
            rest = &rest[open + close + 1..];
            match key {
                "T" => out.push_str(AREAS[topic.area]),
                "Ts" => out.push_str(&plural(AREAS[topic.area])),
                "F" => out.push_str(&self.features[topic.feature]),
                "X" => out.push_str(self.features.choose(rng).map_or("Autosync", |s| s)),
                "N" => out.push_str(AREAS[self.areas.sample(rng)]),
                "Ns" => out.push_str(&plural(AREAS[self.areas.sample(rng)])),
                "V" => out.push_str(VERBS[self.verbs.sample(rng)].0),
                "Vd" => out.push_str(VERBS[self.verbs.sample(rng)].1),
                "Vg" => out.push_str(VERBS[self.verbs.sample(rng)].2),
                "A" => out.push_str(ADJECTIVES[self.adjectives.sample(rng)]),
                "P" => out.push_str(PROBLEMS.choose(rng).unwrap_or(&"error")),
                "Ps" => out.push_str(&plural(PROBLEMS.choose(rng).unwrap_or(&"error"))),
                "U" => out.push_str(PLACES.choose(rng).unwrap_or(&"Settings")),
                "I" => out.push_str(PARTNERS.choose(rng).unwrap_or(&"Slack")),
                "R" => out.push_str(ROLES.choose(rng).unwrap_or(&"admins")),
                "n" => out.push_str(&rng.random_range(2..500).to_string()),
                "C" => {
                    let area = AREAS[self.areas.sample(rng)].replace([' ', '-'], "_");
                    let verb = VERBS[self.verbs.sample(rng)].1.replace(' ', "_");
                    out.push_str(&format!("{area}_{verb}"));
                }
                other => out.push_str(other),
            }
        }
        out.push_str(rest);
        let mut filled = out.split_off(start);
        capitalize_first(&mut filled);
        out.push_str(&with_an(&filled));
    }

    fn sentence(&self, rng: &mut impl Rng, topic: Topic, list: &[&str], out: &mut String) {
        let template = list.choose(rng).copied().unwrap_or("");
        self.fill(rng, topic, template, out);
    }

    /// `count` sentences from `list`, space-separated.
    fn paragraph(
        &self,
        rng: &mut impl Rng,
        topic: Topic,
        list: &[&str],
        count: usize,
        out: &mut String,
    ) {
        // Distinct sentences: a paragraph does not repeat itself.
        let templates: Vec<&str> = list.choose_multiple(rng, count).copied().collect();
        for (k, template) in templates.into_iter().enumerate() {
            if k > 0 {
                out.push(' ');
            }
            self.fill(rng, topic, template, out);
        }
    }

    pub fn ticket_subject(&self, rng: &mut impl Rng, topic: Topic) -> String {
        let mut s = String::new();
        self.sentence(rng, topic, SUBJECTS, &mut s);
        s.truncate(200);
        s
    }

    pub fn ticket_description(&self, rng: &mut impl Rng, topic: Topic) -> String {
        let mut s = String::new();
        let count = rng.random_range(2..=6);
        self.paragraph(rng, topic, DESCRIPTIONS, count, &mut s);
        s
    }

    pub fn agent_reply(&self, rng: &mut impl Rng, topic: Topic) -> String {
        let mut s = String::new();
        self.sentence(rng, topic, AGENT_REPLIES, &mut s);
        if rng.random_bool(0.4) {
            s.push(' ');
            self.sentence(rng, topic, SENTENCES, &mut s);
        }
        s
    }

    pub fn internal_note(&self, rng: &mut impl Rng, topic: Topic) -> String {
        let mut s = String::new();
        self.sentence(rng, topic, NOTES, &mut s);
        s
    }

    pub fn customer_reply(&self, rng: &mut impl Rng, topic: Topic) -> String {
        let mut s = String::new();
        self.sentence(rng, topic, CUSTOMER_REPLIES, &mut s);
        s
    }

    pub fn rating_comment(&self, rng: &mut impl Rng, rating: i32) -> String {
        let good = &RATING_COMMENTS[..4];
        let bad = &RATING_COMMENTS[4..];
        let list = if rating >= 4 { good } else { bad };
        list.choose(rng).copied().unwrap_or("Thanks").to_string()
    }

    pub fn article_title(&self, rng: &mut impl Rng, topic: Topic) -> String {
        let mut s = String::new();
        self.sentence(rng, topic, TITLES, &mut s);
        s.truncate(300);
        s
    }

    /// A Markdown-ish article of about `words` words (150 to 1,500 drawn
    /// by the caller): an introduction, then sections with paragraphs,
    /// numbered steps, notes and the odd code block.
    pub fn article_body(&self, rng: &mut impl Rng, topic: Topic, words: usize) -> String {
        let mut s = String::with_capacity(words * 8);
        let count_words = |s: &str| s.split_whitespace().count();
        let intro = rng.random_range(2..=4);
        self.paragraph(rng, topic, SENTENCES, intro, &mut s);
        let mut written = count_words(&s);
        // Headings in a random order, repeated only in very long articles.
        let mut headings = HEADINGS.to_vec();
        headings.shuffle(rng);
        let mut sections = 0;
        while written < words {
            let before = s.len();
            s.push_str("\n\n## ");
            self.fill(rng, topic, headings[sections % headings.len()], &mut s);
            sections += 1;
            s.push_str("\n\n");
            match rng.random_range(0..10) {
                0..=3 => {
                    let n = rng.random_range(3..=6);
                    self.paragraph(rng, topic, SENTENCES, n, &mut s);
                }
                4..=6 => {
                    for k in 1..=rng.random_range(3..=7) {
                        if k > 1 {
                            s.push('\n');
                        }
                        s.push_str(&format!("{k}. "));
                        self.sentence(rng, topic, STEPS, &mut s);
                    }
                }
                7 => {
                    for k in 0..rng.random_range(2..=5) {
                        if k > 0 {
                            s.push('\n');
                        }
                        s.push_str("- ");
                        self.sentence(rng, topic, SENTENCES, &mut s);
                    }
                }
                8 => {
                    s.push_str("> **Note:** ");
                    self.paragraph(rng, topic, SENTENCES, 2, &mut s);
                }
                _ => {
                    self.paragraph(rng, topic, SENTENCES, 2, &mut s);
                    let area = plural(AREAS[self.areas.sample(rng)]).replace(' ', "_");
                    let feature = self.features[topic.feature].to_lowercase();
                    s.push_str(&format!(
                        "\n\n```\nGET /api/v2/{area}?{feature}=true&limit={}\n```",
                        rng.random_range(10..200)
                    ));
                }
            }
            written += count_words(&s[before..]);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_every_placeholder() {
        let v = vocabulary();
        let mut rng = rand::rng();
        for _ in 0..200 {
            let topic = v.topic(&mut rng);
            let body = v.article_body(&mut rng, topic, 300);
            assert!(!body.contains('{') && !body.contains('}'), "{body}");
            let words = body.split_whitespace().count();
            assert!((300..700).contains(&words), "{words}");
            let title = v.article_title(&mut rng, topic);
            assert!(!title.is_empty() && !title.contains('{'), "{title}");
            assert!(!v.ticket_subject(&mut rng, topic).contains('{'));
        }
        assert!(v.features.len() > 2_500, "{}", v.features.len());
    }
}
