//! [`HelpDesk`] over the Zendesk Support API: one method per operation,
//! each naming its endpoint and deciding whether a retry is safe.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::Method;
use serde::Serialize;

use super::{Body, Call, Replay, ZendeskClient};
use crate::helpdesk::wire::*;
use crate::helpdesk::*;

/// Zendesk's cap on ids per `show_many` and items per bulk job.
const BATCH: usize = 100;

/// How far back the cursor export must start, with a margin for clock skew.
const EXPORT_MIN_AGE: TimeDelta = TimeDelta::seconds(61);

/// How long a job may run before carteiro stops waiting for it.
const JOB_TIMEOUT: Duration = Duration::from_secs(600);

fn join_ids(ids: &[Id]) -> String {
    ids.iter().map(Id::to_string).collect::<Vec<_>>().join(",")
}

impl ZendeskClient {
    /// Polls a job until it finishes, then returns its results.
    async fn wait_for_job(&self, job: JobStatus) -> Result<Vec<JobResult>> {
        const ENDPOINT: &str = "GET /api/v2/job_statuses/{id}";
        let mut job = job;
        let mut interval = self.inner.job_poll_interval;
        let started = tokio::time::Instant::now();
        while !job.status.is_finished() {
            if started.elapsed() > JOB_TIMEOUT {
                return Err(HelpDeskError::Transport {
                    endpoint: ENDPOINT.to_owned(),
                    message: format!("job {} still {:?} after {:?}", job.id, job.status, JOB_TIMEOUT),
                });
            }
            tokio::time::sleep(interval).await;
            interval = (interval * 2).min(Duration::from_secs(2));
            let call = Call::new(Method::GET, ENDPOINT, format!("/api/v2/job_statuses/{}", job.id));
            job = self.fetch::<JobStatusEnvelope>(&call).await?.job_status;
        }
        match (job.status, job.results) {
            (JobState::Completed, None) => Ok(Vec::new()),
            (JobState::Completed, Some(JobResults::Items(items))) => Ok(items),
            // The object form speaks for the whole job (a permanent delete).
            (JobState::Completed, Some(JobResults::Outcome(JobOutcome { success: true }))) => Ok(Vec::new()),
            (JobState::Completed, Some(JobResults::Outcome(JobOutcome { success: false }))) => {
                Err(HelpDeskError::Unprocessable {
                    endpoint: ENDPOINT.to_owned(),
                    status: 200,
                    message: format!("job {} completed without success", job.id),
                    details: None,
                })
            }
            (state, _) => Err(HelpDeskError::Unprocessable {
                endpoint: ENDPOINT.to_owned(),
                status: 200,
                message: format!(
                    "job {} ended {:?}: {}",
                    job.id,
                    state,
                    job.message.unwrap_or_default()
                ),
                details: None,
            }),
        }
    }

    /// Pages through an offset-paginated list (`next_page` URLs).
    async fn list_all<E, T>(
        &self,
        endpoint: &'static str,
        path: &str,
        items: fn(E) -> (Vec<T>, Option<String>),
    ) -> Result<Vec<T>>
    where
        E: serde::de::DeserializeOwned,
    {
        let mut out = Vec::new();
        let mut call = Call::new(Method::GET, endpoint, path);
        loop {
            let envelope: E = self.fetch(&call).await?;
            let (page, next) = items(envelope);
            out.extend(page);
            let Some(next) = next else { break };
            let (path, query) = self.next_page_path(endpoint, &next)?;
            call = Call::new(Method::GET, endpoint, path);
            call.query = query;
        }
        Ok(out)
    }

    /// Submits one bulk job and waits for it.
    async fn run_job<B: Serialize>(&self, call: Call, body: &B) -> Result<Vec<JobResult>> {
        let call = call.json(body)?;
        let job = self.fetch::<JobStatusEnvelope>(&call).await?.job_status;
        self.wait_for_job(job).await
    }

    /// One batch of `create_many`. A batch whose outcome is unknown is
    /// retried only for tickets that carry an `external_id` and are not
    /// found under it, so no ticket is created twice.
    async fn create_batch(&self, batch: &[NewTicket], offset: usize) -> Result<Vec<JobResult>> {
        const ENDPOINT: &str = "POST /api/v2/tickets/create_many";
        let call = Call::new(Method::POST, ENDPOINT, "/api/v2/tickets/create_many");
        let body = NewTicketsEnvelope {
            tickets: batch.to_vec(),
        };
        let first = match self.send(&call.json(&body)?).await {
            Ok(answer) => {
                let job = self
                    .decode::<JobStatusEnvelope>(ENDPOINT, &answer.bytes)?
                    .job_status;
                return Ok(shift(self.wait_for_job(job).await?, offset));
            }
            Err(err) if err.ambiguous && batch.iter().all(|t| t.external_id.is_some()) => err,
            Err(err) => return Err(err.error),
        };
        tracing::warn!(error = %first.error, "create_many outcome unknown; looking up external ids before retrying");
        let mut results = Vec::new();
        let mut missing = Vec::new();
        for (index, ticket) in batch.iter().enumerate() {
            let external_id = ticket.external_id.as_deref().unwrap_or_default();
            match self.find_tickets_by_external_id(external_id).await?.first() {
                Some(found) => results.push(JobResult {
                    id: Some(found.id),
                    index: Some((offset + index) as u64),
                    action: Some("create".to_owned()),
                    success: Some(true),
                    status: Some("Found".to_owned()),
                    error: None,
                    details: None,
                    external_id: Some(external_id.to_owned()),
                }),
                None => missing.push((offset + index, ticket.clone())),
            }
        }
        if !missing.is_empty() {
            let body = NewTicketsEnvelope {
                tickets: missing.iter().map(|(_, t)| t.clone()).collect(),
            };
            let call = Call::new(Method::POST, ENDPOINT, "/api/v2/tickets/create_many");
            let retried = self.run_job(call, &body).await?;
            for mut result in retried {
                // Map the retry's indices back to the caller's.
                result.index = result
                    .index
                    .and_then(|i| missing.get(i as usize))
                    .map(|(original, _)| *original as u64);
                results.push(result);
            }
        }
        results.sort_by_key(|r| r.index);
        Ok(results)
    }
}

fn shift(results: Vec<JobResult>, offset: usize) -> Vec<JobResult> {
    results
        .into_iter()
        .map(|mut r| {
            r.index = r.index.map(|i| i + offset as u64);
            r
        })
        .collect()
}

impl HelpDesk for ZendeskClient {
    async fn show_ticket(&self, id: Id) -> Result<Ticket> {
        let call = Call::new(
            Method::GET,
            "GET /api/v2/tickets/{id}",
            format!("/api/v2/tickets/{id}"),
        );
        Ok(self.fetch::<TicketEnvelope>(&call).await?.ticket)
    }

    async fn show_tickets(&self, ids: &[Id]) -> Result<Vec<Ticket>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH) {
            let call = Call::new(
                Method::GET,
                "GET /api/v2/tickets/show_many",
                "/api/v2/tickets/show_many",
            )
            .query("ids", join_ids(chunk));
            out.extend(self.fetch::<TicketsEnvelope>(&call).await?.tickets);
        }
        Ok(out)
    }

    async fn find_tickets_by_external_id(&self, external_id: &str) -> Result<Vec<Ticket>> {
        let call = Call::new(Method::GET, "GET /api/v2/tickets", "/api/v2/tickets")
            .query("external_id", external_id);
        Ok(self.fetch::<TicketsEnvelope>(&call).await?.tickets)
    }

    async fn create_ticket(&self, ticket: &NewTicket) -> Result<Ticket> {
        const ENDPOINT: &str = "POST /api/v2/tickets";
        let body = NewTicketEnvelope {
            ticket: ticket.clone(),
        };
        // The external id is derived from the journal key, so it names this
        // create across retries and restarts: as the idempotency key,
        // Zendesk answers a repeat within two hours with the first ticket
        // ("Keys expire after two hours", developer.zendesk.com, Ticketing
        // API introduction, Idempotency). The lookup below still covers a
        // repeat after that.
        let call = Call::new(Method::POST, ENDPOINT, "/api/v2/tickets")
            .json(&body)?
            .idempotency_key(ticket.external_id.as_deref());
        let attempts = self.inner.settings.max_retries + 1;
        let mut last = None;
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(self.backoff(attempt)).await;
            }
            match self.send(&call).await {
                Ok(answer) => return Ok(self.decode::<TicketEnvelope>(ENDPOINT, &answer.bytes)?.ticket),
                Err(err) if err.ambiguous => {
                    // The ticket may exist now. Without an external id there
                    // is no way to tell, so do not guess.
                    let Some(external_id) = ticket.external_id.as_deref() else {
                        return Err(err.error);
                    };
                    tracing::warn!(error = %err.error, external_id, "ticket create outcome unknown; looking it up before retrying");
                    if let Some(found) = self
                        .find_tickets_by_external_id(external_id)
                        .await?
                        .into_iter()
                        .next()
                    {
                        return Ok(found);
                    }
                    last = Some(err.error);
                }
                Err(err) => return Err(err.error),
            }
        }
        Err(last.unwrap_or_else(|| HelpDeskError::Transport {
            endpoint: ENDPOINT.to_owned(),
            message: "no attempt was made".to_owned(),
        }))
    }

    async fn update_ticket(
        &self,
        id: Id,
        update: &TicketUpdate,
        updated_stamp: DateTime<Utc>,
    ) -> Result<Ticket> {
        const ENDPOINT: &str = "PUT /api/v2/tickets/{id}";
        let mut update = update.clone();
        update.id = None;
        update.safe_update = Some(true);
        update.updated_stamp = Some(updated_stamp);
        // With safe_update a replay of an applied write is refused with 409
        // (the stamp moved), so replaying is safe.
        let call = Call::new(Method::PUT, ENDPOINT, format!("/api/v2/tickets/{id}"))
            .json(&TicketUpdateEnvelope { ticket: update })?
            .replay(Replay::Safe);
        Ok(self.fetch::<TicketEnvelope>(&call).await?.ticket)
    }

    async fn append_to_ticket(&self, id: Id, update: &TicketUpdate) -> Result<Ticket> {
        const ENDPOINT: &str = "PUT /api/v2/tickets/{id}";
        let mut update = update.clone();
        update.id = None;
        update.safe_update = None;
        update.updated_stamp = None;
        // Without a stamp a replay of an applied comment adds it twice.
        let call = Call::new(Method::PUT, ENDPOINT, format!("/api/v2/tickets/{id}"))
            .json(&TicketUpdateEnvelope { ticket: update })?
            .replay(Replay::OnlyIfUnsent);
        Ok(self.fetch::<TicketEnvelope>(&call).await?.ticket)
    }

    async fn create_tickets(&self, tickets: &[NewTicket]) -> Result<Vec<JobResult>> {
        let mut out = Vec::with_capacity(tickets.len());
        for (n, chunk) in tickets.chunks(BATCH).enumerate() {
            out.extend(self.create_batch(chunk, n * BATCH).await?);
        }
        Ok(out)
    }

    async fn update_tickets(&self, updates: &[TicketUpdate]) -> Result<Vec<JobResult>> {
        const ENDPOINT: &str = "PUT /api/v2/tickets/update_many";
        if let Some(position) = updates.iter().position(|u| u.id.is_none()) {
            return Err(HelpDeskError::Unprocessable {
                endpoint: ENDPOINT.to_owned(),
                status: 0,
                message: format!("update {position} has no ticket id"),
                details: None,
            });
        }
        let mut out = Vec::with_capacity(updates.len());
        for chunk in updates.chunks(BATCH) {
            // Status, tag and field changes land the same when replayed; a
            // comment would be added twice, so a batch with one is sent once.
            let replay = if chunk.iter().any(|u| u.comment.is_some()) {
                Replay::OnlyIfUnsent
            } else {
                Replay::Safe
            };
            let call = Call::new(Method::PUT, ENDPOINT, "/api/v2/tickets/update_many").replay(replay);
            let body = TicketUpdatesEnvelope {
                tickets: chunk.to_vec(),
            };
            out.extend(self.run_job(call, &body).await?);
        }
        Ok(out)
    }

    async fn list_comments_page(&self, ticket_id: Id, after_cursor: Option<&str>) -> Result<Page<Comment>> {
        let mut call = Call::new(
            Method::GET,
            "GET /api/v2/tickets/{id}/comments",
            format!("/api/v2/tickets/{ticket_id}/comments"),
        )
        .query("page[size]", BATCH);
        if let Some(cursor) = after_cursor {
            call = call.query("page[after]", cursor);
        }
        let envelope: CommentsEnvelope = self.fetch(&call).await?;
        let meta = envelope.page.meta.unwrap_or_default();
        Ok(Page {
            items: envelope.comments,
            has_more: meta.has_more,
            after_cursor: meta.after_cursor,
        })
    }

    async fn list_audits(&self, ticket_id: Id) -> Result<Vec<Audit>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut call = Call::new(
                Method::GET,
                "GET /api/v2/tickets/{id}/audits",
                format!("/api/v2/tickets/{ticket_id}/audits"),
            )
            .query("page[size]", BATCH);
            if let Some(cursor) = &after {
                call = call.query("page[after]", cursor);
            }
            let envelope: AuditsEnvelope = self.fetch(&call).await?;
            out.extend(envelope.audits);
            match envelope.page.meta {
                Some(CursorMeta {
                    has_more: true,
                    after_cursor: Some(cursor),
                    ..
                }) => after = Some(cursor),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn add_tags(&self, ticket_id: Id, tags: &[String]) -> Result<Vec<String>> {
        let call = Call::new(
            Method::PUT,
            "PUT /api/v2/tickets/{id}/tags",
            format!("/api/v2/tickets/{ticket_id}/tags"),
        )
        .json(&TagsEnvelope { tags: tags.to_vec() })?
        .replay(Replay::Safe);
        Ok(self.fetch::<TagsEnvelope>(&call).await?.tags)
    }

    async fn remove_tags(&self, ticket_id: Id, tags: &[String]) -> Result<Vec<String>> {
        let call = Call::new(
            Method::DELETE,
            "DELETE /api/v2/tickets/{id}/tags",
            format!("/api/v2/tickets/{ticket_id}/tags"),
        )
        .json(&TagsEnvelope { tags: tags.to_vec() })?
        .replay(Replay::Safe);
        Ok(self.fetch::<TagsEnvelope>(&call).await?.tags)
    }

    async fn export_tickets(&self, start: &ExportStart) -> Result<ExportPage> {
        let mut call = Call::new(
            Method::GET,
            "GET /api/v2/incremental/tickets/cursor",
            "/api/v2/incremental/tickets/cursor.json",
        );
        call = match start {
            ExportStart::Cursor(cursor) => call.query("cursor", cursor),
            ExportStart::Time(at) => {
                // Zendesk refuses a start less than a minute ago.
                let latest = self.inner.clock.now() - EXPORT_MIN_AGE;
                call.query("start_time", (*at).min(latest).timestamp().max(0))
            }
        };
        if let Some(size) = self.inner.export_page_size {
            call = call.query("per_page", size);
        }
        let export: CursorExport = self.fetch(&call).await?;
        Ok(ExportPage {
            tickets: export.tickets,
            after_cursor: export.after_cursor,
            end_of_stream: export.end_of_stream,
        })
    }

    async fn upsert_user(&self, user: &UserUpsert) -> Result<User> {
        let call = Call::new(
            Method::POST,
            "POST /api/v2/users/create_or_update",
            "/api/v2/users/create_or_update",
        )
        .json(&UserUpsertEnvelope { user: user.clone() })?
        // Matched by e-mail: a replay updates the same user.
        .replay(Replay::Safe);
        Ok(self.fetch::<UserEnvelope>(&call).await?.user)
    }

    async fn show_users(&self, ids: &[Id]) -> Result<Vec<User>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH) {
            let call = Call::new(
                Method::GET,
                "GET /api/v2/users/show_many",
                "/api/v2/users/show_many",
            )
            .query("ids", join_ids(chunk));
            out.extend(self.fetch::<UsersEnvelope>(&call).await?.users);
        }
        Ok(out)
    }

    async fn me(&self) -> Result<User> {
        let call = Call::new(Method::GET, "GET /api/v2/users/me", "/api/v2/users/me");
        Ok(self.fetch::<UserEnvelope>(&call).await?.user)
    }

    async fn list_agents(&self) -> Result<Vec<User>> {
        let mut out = Vec::new();
        let mut call = Call::new(Method::GET, "GET /api/v2/users", "/api/v2/users")
            .query("role[]", "agent")
            .query("role[]", "admin");
        loop {
            let envelope: UsersEnvelope = self.fetch(&call).await?;
            out.extend(envelope.users);
            let Some(next) = envelope.page.next_page().map(str::to_owned) else {
                break;
            };
            let (path, query) = self.next_page_path("GET /api/v2/users", &next)?;
            call = Call::new(Method::GET, "GET /api/v2/users", path);
            call.query = query;
        }
        Ok(out)
    }

    async fn list_groups(&self) -> Result<Vec<Group>> {
        self.list_all("GET /api/v2/groups", "/api/v2/groups", |e: GroupsEnvelope| {
            (e.groups, e.page.next_page().map(str::to_owned))
        })
        .await
    }

    async fn list_custom_statuses(&self) -> Result<Vec<CustomStatus>> {
        let call = Call::new(
            Method::GET,
            "GET /api/v2/custom_statuses",
            "/api/v2/custom_statuses",
        );
        Ok(self.fetch::<CustomStatusesEnvelope>(&call).await?.custom_statuses)
    }

    async fn list_ticket_fields(&self) -> Result<Vec<TicketField>> {
        self.list_all(
            "GET /api/v2/ticket_fields",
            "/api/v2/ticket_fields",
            |e: TicketFieldsEnvelope| (e.ticket_fields, e.links.next_page),
        )
        .await
    }

    async fn upload(&self, file: &NewUpload) -> Result<Upload> {
        let mut call = Call::new(Method::POST, "POST /api/v2/uploads", "/api/v2/uploads")
            .query("filename", &file.file_name)
            // A replayed upload leaves an unused token that Zendesk expires.
            .replay(Replay::Safe);
        call.body = Body::Raw {
            content_type: file.content_type.clone(),
            bytes: file.bytes.clone(),
        };
        Ok(self.fetch::<UploadEnvelope>(&call).await?.upload)
    }

    async fn search_articles(&self, query: &str, locale: Option<&str>) -> Result<Vec<Article>> {
        let mut call = Call::new(
            Method::GET,
            "GET /api/v2/help_center/articles/search",
            "/api/v2/help_center/articles/search",
        )
        .query("query", query);
        if let Some(locale) = locale {
            call = call.query("locale", locale);
        }
        Ok(self.fetch::<ArticleSearch>(&call).await?.results)
    }
}
