//! Inbound: what a received message means and what Kurier does about it.
//!
//! The recorder stores every received message first and queues it
//! (`inbound_queue`, same transaction). This worker then claims queued
//! messages under a lease and, for each, decides in order: a compliance
//! word (`compliance`: STOP and friends opt out, START opts in, HELP gets
//! the help text) of the accounts holding the number, unless a keyword of
//! another of them takes it; else the best keyword on the number
//! (`keyword`), else
//! the number's default actions; it turns the chosen actions (`actions`)
//! into effects — group changes, replies, forwards, notifications, poll
//! votes (`polls`) — and
//! stores them with the match in one transaction
//! ([`Store::complete_inbound`]), so a crash repeats a message's matching
//! whole or not at all. It also stores long messages whose parts stopped
//! coming as incomplete. It never talks to connectors: replies go to the
//! queue like any message.
//!
//! Not here: storing received messages (`dispatch::recorder`,
//! `storage::inbound`), sending (`dispatch`), webhook delivery (`webhooks`).

pub mod actions;
pub mod compliance;
pub mod keyword;
pub mod polls;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::campaigns::template::{MessageTemplate, TemplateContact};
use crate::config::InboundConfig;
use crate::domain::{MessageText, PhoneNumber, Region, SenderId, new_id};
use crate::storage::{
    Email, InboundJob, InboundLimits, InboundOutcome, KeywordRecord, NewMail, NewMessage, NumberRecord,
    OptChange, ReplyLimit, Store, format_micros, now_micros, number_spellings,
};
use actions::Action;
use compliance::Request;
use keyword::{Candidate, Keyword, MatchType, normalize};

/// A received message as webhooks and templates see it.
fn message_json(job: &InboundJob) -> serde_json::Value {
    json!({"id": job.message_id, "from": job.from, "to": job.to, "text": job.text,
           "received_at": format_micros(job.received_at), "incomplete": job.incomplete})
}

/// The body of an e-mail that forwards a received message: who, where,
/// when, the keyword, and the text as received.
fn forwarded_mail_body(job: &InboundJob, keyword: Option<&str>) -> String {
    let mut body =
        format!("From: {}\nTo: {}\nReceived: {}\n", job.from, job.to, format_micros(job.received_at));
    if let Some(k) = keyword {
        body.push_str(&format!("Keyword: {k}\n"));
    }
    if job.incomplete {
        body.push_str("Incomplete: some parts of this long message never arrived.\n");
    }
    body.push('\n');
    body.push_str(&job.text);
    body.push('\n');
    body
}

/// Messages claimed per step.
const CLAIM_BATCH: usize = 100;
/// How long a claimed message is reserved for this worker. Should matching
/// take longer and another node claim the message meanwhile, only that
/// node stores its match (`Store::complete_inbound` checks the claim).
const LEASE: Duration = Duration::from_secs(60);
/// How often an idle worker looks for work.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// Longest delay between attempts at a message whose matching failed.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);

/// How the account a message went to writes: answers from the number
/// the message was written to, as the account registered it (not as the
/// SMSC wrote it: `48500600700` is `+48500600700`), and every text
/// transliterated when the account transliterates.
struct Outgoing {
    from: Option<SenderId>,
    transliterate: bool,
}

pub struct InboundWorker {
    store: Store,
    /// This node's name: only it completes what it claimed.
    node: String,
    cfg: InboundConfig,
    /// Reads senders written as national numbers (`messages.default_region`).
    region: Option<Region>,
    max_segments: usize,
    /// Wakes the dispatcher when replies were queued.
    dispatch: Arc<Notify>,
}

impl InboundWorker {
    pub fn new(
        store: Store,
        node: String,
        cfg: InboundConfig,
        region: Option<Region>,
        max_segments: usize,
        dispatch: Arc<Notify>,
    ) -> Self {
        Self { store, node, cfg, region, max_segments, dispatch }
    }

    /// Matches every due message once; returns how many were handled.
    pub async fn step(&self) -> anyhow::Result<usize> {
        let now = now_micros();
        let timeout = (self.cfg.reassembly_timeout_secs as i64).saturating_mul(1_000_000);
        let flushed = self.store.flush_stale_parts(now - timeout, now).await?;
        if flushed > 0 {
            tracing::warn!(messages = flushed, "stored long messages with missing parts as incomplete");
        }
        let jobs =
            self.store.claim_inbound(&self.node, now, now + LEASE.as_micros() as i64, CLAIM_BATCH).await?;
        let mut queued = 0;
        for job in &jobs {
            match self.handle(job).await {
                Ok(n) => queued += n,
                Err(e) => {
                    let delay = Duration::from_secs(1u64 << job.attempts.clamp(0, 8)).min(MAX_RETRY_DELAY);
                    tracing::error!(message_id = %job.message_id, error = %format!("{e:#}"), "matching failed; retrying");
                    self.store
                        .retry_inbound(
                            &self.node,
                            &job.message_id,
                            now_micros() + delay.as_micros() as i64,
                            &format!("{e:#}"),
                        )
                        .await?;
                }
            }
        }
        if queued > 0 {
            crate::telemetry::accepted("inbound", queued);
            self.dispatch.notify_one();
        }
        Ok(jobs.len() + flushed)
    }

    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        while !shutdown.is_cancelled() {
            let busy = match self.step().await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "inbound step failed");
                    false
                }
            };
            if !busy {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(IDLE_POLL) => {}
                }
            }
        }
        Ok(())
    }

    /// Decides and stores what one message means; returns messages queued.
    async fn handle(&self, received: &InboundJob) -> anyhow::Result<usize> {
        // The SMSC writes a sender as it likes: international with or
        // without its '+', or national. As a number it is opted out,
        // answered, added to groups and forwarded, and so it is stored.
        let sender_phone = PhoneNumber::parse_address(&received.from, self.region).ok();
        let job = &InboundJob {
            from: sender_phone.as_ref().map_or_else(|| received.from.clone(), |p| p.as_str().to_owned()),
            ..received.clone()
        };
        let mut o = InboundOutcome {
            message_id: job.message_id.clone(),
            account_id: job.account_id.clone(),
            kind: "none",
            sender: job.from.clone(),
            sender_phone,
            to: job.to.clone(),
            ..Default::default()
        };
        let holders: Vec<NumberRecord> = self
            .store
            .number_holders(&number_spellings(&job.to))
            .await?
            .into_iter()
            .filter(|h| h.connectors.is_empty() || h.connectors.contains(&job.connector))
            .collect();
        let text = normalize(&job.text);
        if holders.is_empty() {
            // A number nobody holds (say, one the account sends from without
            // registering it): no keywords, but STOP, START and HELP count
            // for the account the message belongs to.
            let (words, help) = self.words(&job.account_id).await?;
            if let Some(request) = compliance::classify(&text, &words) {
                let number = number_spellings(&job.to).into_iter().next().unwrap_or_default();
                let out = self.outgoing(&job.account_id, &number).await?;
                self.answer_request(&mut o, &out, request, vec![job.account_id.clone()], help, &text);
            }
            return self.finish(job, o, None).await;
        }
        let mut words = Vec::with_capacity(holders.len());
        for h in &holders {
            words.push(self.words(&h.account_id).await?);
        }
        // 1. Compliance words, on every number, before any keyword of the
        //    accounts whose words they are; another sharer's keyword that
        //    the message matches still takes it.
        let requests: Vec<Option<Request>> =
            words.iter().map(|(w, _)| compliance::classify(&text, w)).collect();
        // 2. The best keyword of the other holders (priorities count within
        //    an account only); 3. else the first holder's default.
        let keywords: Vec<KeywordRecord> = if requests.iter().all(Option::is_some) {
            Vec::new()
        } else {
            self.store
                .keywords_on(&holders[0].number, None)
                .await?
                .into_iter()
                .filter(|k| holders.iter().zip(&requests).any(|(h, r)| h.id == k.number_id && r.is_none()))
                .collect()
        };
        let parsed: Vec<Option<Keyword>> = keywords
            .iter()
            .map(|k| MatchType::parse(&k.match_type).and_then(|m| Keyword::new(&k.keyword, m).ok()))
            .collect();
        let all_words: Vec<String> = words.iter().flat_map(|(w, _)| w.iter().cloned()).collect();
        let candidates = parsed.iter().enumerate().filter_map(|(i, k)| {
            k.as_ref().map(|k| {
                (
                    i,
                    Candidate {
                        keyword: k,
                        account: &keywords[i].account_id,
                        priority: keywords[i].priority,
                        created_at: keywords[i].created_at,
                    },
                )
            })
        });
        let best = keyword::best(candidates, &text, &all_words);
        if let (None, Some(request)) = (best, requests.iter().flatten().next().copied()) {
            let mut accounts: Vec<usize> =
                (0..holders.len()).filter(|i| requests[*i] == Some(request)).collect();
            if request == Request::Help {
                accounts.truncate(1);
            }
            // Opting in or out concerns every sharer whose word it is.
            let first = &holders[accounts[0]];
            o.account_id = first.account_id.clone();
            o.number_id = Some(first.id.clone());
            let help = words[accounts[0]].1.clone();
            let out = self.outgoing(&first.account_id, &first.number).await?;
            let accounts = accounts.iter().map(|i| holders[*i].account_id.clone()).collect();
            self.answer_request(&mut o, &out, request, accounts, help, &text);
            return self.finish(job, o, None).await;
        }
        let (holder, actions_json, keyword) = match best {
            Some(i) => {
                let k = &keywords[i];
                let holder = holders.iter().find(|h| h.id == k.number_id).unwrap_or(&holders[0]);
                o.keyword_id = Some(k.id.clone());
                o.kind = "keyword";
                (holder, k.actions.clone(), Some(k.keyword.clone()))
            }
            None => {
                o.kind = "default";
                (&holders[0], holders[0].default_actions.clone(), None)
            }
        };
        o.account_id = holder.account_id.clone();
        o.number_id = Some(holder.id.clone());
        let actions: Vec<Action> = serde_json::from_str(&actions_json).unwrap_or_default();
        if actions.is_empty() && o.kind == "default" {
            o.kind = "none";
        }
        let out = self.outgoing(&holder.account_id, &holder.number).await?;
        self.run_actions(&mut o, job, &out, &actions, keyword.as_deref()).await?;
        self.finish(job, o, keyword.as_deref()).await
    }

    /// Acts on a compliance word (STOP, START, HELP) for `accounts`: the
    /// opt change and the answer, which goes even to an opted-out number.
    fn answer_request(
        &self,
        o: &mut InboundOutcome,
        out: &Outgoing,
        request: Request,
        accounts: Vec<String>,
        help: String,
        text: &str,
    ) {
        o.kind = request.as_str();
        match request {
            Request::OptOut | Request::OptIn => {
                o.opt = Some(OptChange { accounts, out: request == Request::OptOut, word: text.to_owned() });
                if request == Request::OptOut {
                    let confirm = "You will get no more messages from us. Reply START to subscribe again.";
                    self.reply(o, out, confirm.to_owned());
                }
            }
            Request::Help => {
                self.reply(o, out, help);
            }
        }
        // The answers to STOP and HELP go even to a number that opted out.
        for r in &mut o.replies {
            r.transactional = true;
        }
    }

    /// The account's opt-out words and help text.
    async fn words(&self, account_id: &str) -> anyhow::Result<(Vec<String>, String)> {
        let s = compliance::settings(&self.store, account_id).await?;
        Ok((s.words, s.help))
    }

    /// Stores the outcome, with the account's own webhook for received
    /// messages (`inbound_url`) if it has one: `contact.opted_out`,
    /// `contact.opted_in`, `poll.vote` (set when the votes are stored) or
    /// else `message.inbound`. Other accounts an opt change is for (sharers
    /// of the number whose word it was) are told too, at theirs.
    async fn finish(
        &self,
        job: &InboundJob,
        mut o: InboundOutcome,
        keyword: Option<&str>,
    ) -> anyhow::Result<usize> {
        let event = match o.kind {
            "opt_out" => "contact.opted_out",
            "opt_in" => "contact.opted_in",
            _ => "message.inbound",
        };
        let payload = json!({
            "event": event,
            "match": {"kind": o.kind, "keyword": keyword},
            "keyword": keyword,
            "message": message_json(job),
            "account_number": job.to,
        });
        let others: Vec<String> = o
            .opt
            .as_ref()
            .map(|opt| opt.accounts.iter().filter(|a| **a != o.account_id).cloned().collect())
            .unwrap_or_default();
        for account in others {
            if let Some(url) = self.store.inbound_url(&account).await? {
                o.opt_hooks.push((account, url, payload.clone()));
            }
        }
        if let Some(url) = self.store.inbound_url(&o.account_id).await? {
            o.event_hook = Some((url, payload));
        }
        let limits = InboundLimits {
            replies: ReplyLimit {
                max: i64::from(self.cfg.auto_reply_limit),
                window_micros: (self.cfg.auto_reply_window_secs as i64).saturating_mul(1_000_000),
            },
            forwards: ReplyLimit {
                max: i64::from(self.cfg.forward_limit),
                window_micros: (self.cfg.forward_window_secs as i64).saturating_mul(1_000_000),
            },
        };
        match self.store.complete_inbound(&self.node, &o, limits, now_micros()).await? {
            Some(queued) => {
                crate::telemetry::inbound_matched(o.kind);
                Ok(queued)
            }
            None => {
                tracing::warn!(message_id = %o.message_id, "inbound message taken over by another node; its match is stored there");
                Ok(0)
            }
        }
    }

    /// How the account `account_id` writes from `number`, the number the
    /// message was written to as the account registered it.
    async fn outgoing(&self, account_id: &str, number: &str) -> anyhow::Result<Outgoing> {
        let transliterate = self.store.account_record(account_id).await?.is_some_and(|a| a.transliterate);
        Ok(Outgoing { from: SenderId::parse(number).ok(), transliterate })
    }

    /// Queues `text` as an answer to the sender, from the number written to.
    fn reply(&self, o: &mut InboundOutcome, out: &Outgoing, text: String) {
        match self.answer(o, out, &text) {
            Ok(m) => o.replies.push(m),
            Err(e) => o.log.push(json!({"action": "reply", "skipped": e})),
        }
    }

    /// `text` as an answer to the sender, from the number written to.
    fn answer(&self, o: &InboundOutcome, out: &Outgoing, text: &str) -> Result<NewMessage, String> {
        let Some(to) = &o.sender_phone else { return Err("the sender is not a phone number".into()) };
        Ok(NewMessage { from: out.from.clone(), ..NewMessage::plain(to.clone(), self.message(out, text)?) })
    }

    /// `text` as the account sends it (transliterated if it says so).
    fn message(&self, out: &Outgoing, text: &str) -> Result<MessageText, String> {
        MessageText::to_send(text, out.transliterate, self.max_segments).map_err(|e| e.to_string())
    }

    async fn run_actions(
        &self,
        o: &mut InboundOutcome,
        job: &InboundJob,
        out: &Outgoing,
        actions: &[Action],
        keyword: Option<&str>,
    ) -> anyhow::Result<()> {
        let data = json!({"message": message_json(job), "keyword": keyword.unwrap_or("")});
        let mut contact: Option<(TemplateContact, Vec<String>)> = None;
        for action in actions {
            match action {
                Action::AddToGroup { group } => o.add_groups.push(group.clone()),
                Action::RemoveFromGroup { group } => o.remove_groups.push(group.clone()),
                Action::Reply { text, template } => {
                    let source = match (text, template) {
                        (Some(t), _) => Some(t.clone()),
                        (None, Some(name)) => {
                            self.store.find_template(&o.account_id, name).await?.map(|t| t.body)
                        }
                        (None, None) => None,
                    };
                    let Some(source) = source else {
                        o.log.push(json!({"action": "reply", "skipped": "the template no longer exists"}));
                        continue;
                    };
                    match self.render(o, &mut contact, &source, &data).await? {
                        Ok(text) => self.reply(o, out, text),
                        Err(e) => o.log.push(json!({"action": "reply", "skipped": e})),
                    }
                }
                Action::Forward { url: Some(url), .. } => {
                    let payload = json!({
                        "event": "message.inbound",
                        "message": data["message"],
                        "keyword": keyword,
                        "account_number": job.to,
                    });
                    o.webhooks.push((url.clone(), payload.to_string()));
                }
                Action::Forward { phone: Some(phone), .. } => {
                    let text = format!("From {}: {}", job.from, job.text);
                    self.send(o, out, phone, &text);
                }
                Action::Forward { email: Some(to), .. } => {
                    let subject = format!(
                        "SMS from {} to {}{}",
                        job.from,
                        job.to,
                        keyword.map(|k| format!(" ({k})")).unwrap_or_default()
                    );
                    self.mail(o, to, subject, forwarded_mail_body(job, keyword));
                }
                Action::Forward { .. } => {}
                Action::PollAnswer { poll } => self.poll_answer(o, job, out, poll, keyword).await?,
                Action::Notify { phone, email, text } => {
                    let text = match text {
                        Some(source) => match self.render(o, &mut contact, source, &data).await? {
                            Ok(t) => t,
                            Err(e) => {
                                o.log.push(json!({"action": "notify", "skipped": e}));
                                continue;
                            }
                        },
                        None => format!(
                            "{} wrote to {}{}: {}",
                            job.from,
                            job.to,
                            keyword.map(|k| format!(" ({k})")).unwrap_or_default(),
                            job.text
                        ),
                    };
                    match (phone, email) {
                        (Some(phone), _) => self.send(o, out, phone, &text),
                        (None, Some(to)) => self.mail(o, to, format!("New message to {}", job.to), text),
                        (None, None) => {}
                    }
                }
            }
        }
        Ok(())
    }

    /// Queues an e-mail to a third party (forward, notification).
    fn mail(&self, o: &mut InboundOutcome, to: &str, subject: String, body: String) {
        match Email::parse(to) {
            Ok(to) => o.emails.push(NewMail { id: new_id(), to, subject, body }),
            Err(e) => o.log.push(json!({"action": "email", "skipped": format!("{to}: {e}")})),
        }
    }

    /// Queues `text` to a third party (forward, notification); too long a
    /// text is shortened to fit.
    fn send(&self, o: &mut InboundOutcome, out: &Outgoing, phone: &str, text: &str) {
        let Ok(to) = PhoneNumber::parse(phone, None) else {
            o.log.push(json!({"action": "send", "skipped": format!("{phone} is not a valid number")}));
            return;
        };
        let text = self.message(out, text).or_else(|_| {
            let short: String = text.chars().take(300).collect();
            self.message(out, &short)
        });
        match text {
            Ok(text) => o.sends.push(NewMessage::plain(to, text)),
            Err(e) => o.log.push(json!({"action": "send", "skipped": e})),
        }
    }

    /// Renders a template for the sender (their contact, if any).
    async fn render(
        &self,
        o: &InboundOutcome,
        contact: &mut Option<(TemplateContact, Vec<String>)>,
        source: &str,
        data: &serde_json::Value,
    ) -> anyhow::Result<Result<String, String>> {
        if contact.is_none() {
            let fields: Vec<String> = self
                .store
                .contact_fields(&o.account_id)
                .await?
                .into_iter()
                .map(|f| f.name.as_str().to_owned())
                .collect();
            let record = match &o.sender_phone {
                Some(p) => match self.store.contact_id_by_phone(&o.account_id, p).await? {
                    Some(id) => self.store.get_contact(&o.account_id, &id).await?,
                    None => None,
                },
                None => None,
            };
            let c = match record {
                Some(r) => TemplateContact::from_record(&r),
                None => TemplateContact::number_only(&o.sender),
            }
            .with_missing_fields(&fields);
            *contact = Some((c, fields));
        }
        let (c, fields) = contact.as_ref().expect("set above");
        let template = match MessageTemplate::parse(source, fields) {
            Ok(t) => t,
            Err(e) => return Ok(Err(format!("the template no longer checks: {e}"))),
        };
        Ok(template.render(c, data).map_err(|e| e.to_string()))
    }
}
