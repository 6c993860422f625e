use chrono::TimeZone;

use super::*;
use crate::mail::parse::{ParseOptions, parse};
use crate::mail::{Sender, threading::referenced_ids};

fn options() -> ComposeOptions {
    ComposeOptions {
        from: MailAddress::named("Suporte Ação Ltda", "suporte@empresa.com.br"),
        message_id_domain: "empresa.com.br".to_owned(),
        loop_header: "X-Carteiro-Loop".to_owned(),
        subject_tag: SubjectTag::parse("[#{id}]"),
    }
}

fn parse_options() -> ParseOptions {
    ParseOptions {
        own_addresses: vec!["suporte@empresa.com.br".to_owned()],
        message_id_domain: "empresa.com.br".to_owned(),
        ..ParseOptions::default()
    }
}

fn mail() -> OutgoingMail {
    OutgoingMail {
        ticket_id: 123,
        to: vec![MailAddress::named("José Araújo", "jose@cliente.com.br")],
        cc: vec![],
        subject: "Re: Impressão não funciona".to_owned(),
        text: "Olá, José!\n\nRecebemos sua solicitação de manutenção.\n".to_owned(),
        html: Some("<p>Olá, José!</p><p>Recebemos sua solicitação de manutenção.</p>".to_owned()),
        attachments: vec![],
        in_reply_to: Some("cliente-1@cliente.com.br".to_owned()),
        references: vec!["cliente-0@cliente.com.br".to_owned()],
        kind: MailKind::ReplyToPerson,
        date: Utc
            .with_ymd_and_hms(2019, 5, 28, 17, 30, 0)
            .single()
            .expect("a date"),
        message_id: None,
    }
}

fn headers(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    text.split("\r\n\r\n").next().unwrap_or_default().to_owned()
}

fn header<'a>(head: &'a str, name: &str) -> Vec<&'a str> {
    let prefix = format!("{}: ", name.to_ascii_lowercase());
    head.split("\r\n")
        .filter(|line| line.to_ascii_lowercase().starts_with(&prefix))
        .map(|line| &line[prefix.len()..])
        .collect()
}

#[test]
fn headers_thread_mark_and_tag_the_mail() {
    let composed = compose(&mail(), &options()).expect("composes");
    let head = headers(&composed.raw);
    assert!(
        composed.message_id.starts_with("carteiro.123."),
        "{}",
        composed.message_id
    );
    assert!(
        composed.message_id.ends_with("@empresa.com.br"),
        "{}",
        composed.message_id
    );
    assert_eq!(
        header(&head, "Message-ID"),
        [format!("<{}>", composed.message_id)]
    );
    assert_eq!(header(&head, "In-Reply-To"), ["<cliente-1@cliente.com.br>"]);
    assert_eq!(
        header(&head, "References"),
        ["<cliente-0@cliente.com.br> <cliente-1@cliente.com.br>"]
    );
    assert_eq!(header(&head, "Auto-Submitted"), ["auto-replied"]);
    assert_eq!(header(&head, "X-Auto-Response-Suppress"), ["All"]);
    assert_eq!(header(&head, "X-Carteiro-Loop"), ["empresa.com.br"]);
    assert_eq!(header(&head, "X-Carteiro-Ticket"), ["123"]);
    assert_eq!(header(&head, "Date"), ["Tue, 28 May 2019 17:30:00 +0000"]);
    assert_eq!(composed.subject, "Re: Impressão não funciona [#123]");
    assert_eq!(
        composed.envelope,
        Envelope {
            from: "suporte@empresa.com.br".to_owned(),
            to: vec!["jose@cliente.com.br".to_owned()],
        }
    );

    let generated = OutgoingMail {
        kind: MailKind::Generated,
        in_reply_to: None,
        references: vec![],
        ..mail()
    };
    let composed = compose(&generated, &options()).expect("composes");
    let head = headers(&composed.raw);
    assert_eq!(header(&head, "Auto-Submitted"), ["auto-generated"]);
    assert!(header(&head, "In-Reply-To").is_empty());
    assert!(header(&head, "References").is_empty());
}

#[test]
fn headers_are_ascii_and_accents_survive_the_round_trip() {
    let composed = compose(&mail(), &options()).expect("composes");
    assert!(composed.raw.is_ascii(), "the raw mail should be 7-bit clean");
    let head = headers(&composed.raw);
    let subject = header(&head, "Subject").join(" ");
    assert!(subject.contains("=?utf-8?"), "not RFC 2047 encoded: {subject}");

    let parsed = parse(&composed.raw, &parse_options());
    assert_eq!(parsed.problems, Vec::<String>::new());
    assert_eq!(parsed.subject, "Re: Impressão não funciona [#123]");
    assert_eq!(
        parsed.from.as_ref().and_then(|a| a.name.as_deref()),
        Some("Suporte Ação Ltda")
    );
    assert_eq!(parsed.to[0].name.as_deref(), Some("José Araújo"));
    assert!(
        parsed
            .body_text
            .contains("Recebemos sua solicitação de manutenção."),
        "{}",
        parsed.body_text
    );
    assert!(
        parsed
            .body_html
            .as_deref()
            .is_some_and(|h| h.contains("solicitação de manutenção")),
        "{:?}",
        parsed.body_html
    );
    assert_eq!(parsed.ticket_ref, Some(123));
    // Inbound sees its own mail coming back, and why.
    assert!(
        matches!(&parsed.sender, Sender::Own { reason } if reason.starts_with("X-Carteiro-Loop")),
        "{:?}",
        parsed.sender
    );
}

#[test]
fn text_and_html_are_alternatives_inside_mixed_when_attached() {
    let text_only = OutgoingMail { html: None, ..mail() };
    let raw = compose(&text_only, &options()).expect("composes").raw;
    let head = headers(&raw);
    assert!(
        header(&head, "Content-Type")[0].starts_with("text/plain"),
        "{head}"
    );

    let raw = compose(&mail(), &options()).expect("composes").raw;
    let head = headers(&raw);
    assert!(
        header(&head, "Content-Type")[0].starts_with("multipart/alternative"),
        "{head}"
    );

    let attached = OutgoingMail {
        attachments: vec![Attachment {
            file_name: "Passo a passo da Ouvidoria.pdf".to_owned(),
            content_type: "application/pdf".to_owned(),
            content: b"%PDF-1.4 conte\xc3\xbado".to_vec(),
        }],
        ..mail()
    };
    let raw = compose(&attached, &options()).expect("composes").raw;
    let head = headers(&raw);
    assert!(
        header(&head, "Content-Type")[0].starts_with("multipart/mixed"),
        "{head}"
    );
    let whole = String::from_utf8_lossy(&raw);
    assert!(whole.contains("multipart/alternative"), "{whole}");
    let parsed = parse(&raw, &parse_options());
    assert_eq!(parsed.attachments.len(), 1, "{:?}", parsed.attachments);
    assert_eq!(parsed.attachments[0].name, "Passo a passo da Ouvidoria.pdf");
    assert_eq!(parsed.attachments[0].content_type, "application/pdf");
    assert_eq!(
        parsed.attachments[0].content.as_deref(),
        Some(&b"%PDF-1.4 conte\xc3\xbado"[..])
    );
    assert!(parsed.body_text.contains("manutenção"));
}

#[test]
fn the_subject_tag_is_added_once_and_only_for_this_ticket() {
    let tag = SubjectTag::parse("[#{id}]").expect("tag");
    assert_eq!(
        tag_subject("Impressora parada", &tag, 7),
        "Impressora parada [#7]"
    );
    assert_eq!(
        tag_subject("Re: Impressora parada [#7]", &tag, 7),
        "Re: Impressora parada [#7]"
    );
    assert_eq!(tag_subject("[#7] Re: Impressora", &tag, 7), "[#7] Re: Impressora");
    assert_eq!(tag_subject("Re: [#7] x [#7]", &tag, 7), "Re: [#7] x");
    // A follow-up of ticket 12: the old tag would thread replies back there.
    assert_eq!(
        tag_subject("Re: Impressora [#12]", &tag, 15),
        "Re: Impressora [#15]"
    );
    assert_eq!(tag_subject("Nota [#] e [#x]", &tag, 3), "Nota [#] e [#x] [#3]");
    assert_eq!(tag_subject("", &tag, 3), "[#3]");
    let hash = SubjectTag::parse("(Chamado {id})").expect("tag");
    assert_eq!(tag_subject("Oi (Chamado 9)", &hash, 9), "Oi (Chamado 9)");

    let untagged = ComposeOptions {
        subject_tag: None,
        ..options()
    };
    let composed = compose(&mail(), &untagged).expect("composes");
    assert_eq!(composed.subject, "Re: Impressão não funciona");
}

#[test]
fn a_customer_subject_cannot_add_headers() {
    let evil = OutgoingMail {
        subject: "Oi\r\nBcc: todos@empresa.com.br\r\n\r\ncorpo".to_owned(),
        ..mail()
    };
    let composed = compose(&evil, &options()).expect("composes");
    let head = headers(&composed.raw);
    assert!(header(&head, "Bcc").is_empty(), "{head}");
    assert_eq!(composed.subject, "Oi Bcc: todos@empresa.com.br corpo [#123]");
}

#[test]
fn a_reply_to_our_mail_refers_to_our_message_id() {
    let composed = compose(&mail(), &options()).expect("composes");
    let reply = format!(
        "From: jose@cliente.com.br\r\nTo: suporte@empresa.com.br\r\nMessage-ID: <r1@cliente.com.br>\r\n\
         In-Reply-To: <{id}>\r\nReferences: <cliente-0@cliente.com.br> <cliente-1@cliente.com.br> <{id}>\r\n\
         Subject: Re: {subject}\r\n\r\nObrigado!\r\n",
        id = composed.message_id,
        subject = composed.subject
    );
    let parsed = parse(reply.as_bytes(), &parse_options());
    assert_eq!(parsed.sender, Sender::Person);
    assert_eq!(referenced_ids(&parsed)[0], composed.message_id);
    assert_eq!(parsed.ticket_ref, Some(123));
}

#[test]
fn message_ids_are_fixed_or_fresh_and_checked() {
    let fixed = OutgoingMail {
        message_id: Some("<fixo.1@empresa.com.br>".to_owned()),
        ..mail()
    };
    let first = compose(&fixed, &options()).expect("composes");
    let second = compose(&fixed, &options()).expect("composes");
    assert_eq!(first.message_id, "fixo.1@empresa.com.br");
    assert_eq!(
        header(&headers(&second.raw), "Message-ID"),
        ["<fixo.1@empresa.com.br>"]
    );
    assert_ne!(new_message_id(1, "x.com"), new_message_id(1, "x.com"));

    let bad = OutgoingMail {
        in_reply_to: Some("sem arroba".to_owned()),
        ..mail()
    };
    assert_eq!(
        compose(&bad, &options()),
        Err(ComposeError::BadMessageId {
            field: "in_reply_to",
            id: "sem arroba".to_owned()
        })
    );
    let nobody = OutgoingMail { to: vec![], ..mail() };
    assert_eq!(compose(&nobody, &options()), Err(ComposeError::NoRecipient));
    let wrong = OutgoingMail {
        cc: vec![MailAddress::new("não é endereço")],
        ..mail()
    };
    assert_eq!(
        compose(&wrong, &options()).err().map(|e| e.to_string()),
        Some("cc: \"não é endereço\" is not an e-mail address".to_owned())
    );
}

#[test]
fn recipients_are_to_and_cc_without_duplicates() {
    let both = OutgoingMail {
        cc: vec![
            MailAddress::new("gerente@cliente.com.br"),
            MailAddress::new("JOSE@cliente.com.br"),
        ],
        ..mail()
    };
    let composed = compose(&both, &options()).expect("composes");
    assert_eq!(
        composed.envelope.to,
        ["jose@cliente.com.br", "gerente@cliente.com.br"]
    );
}

#[test]
fn attachments_come_from_inside_the_rules_folder_only() {
    let dir = std::env::temp_dir().join(format!("carteiro-attach-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("anexos")).expect("mkdir");
    std::fs::write(dir.join("anexos/Guia Ouvidoria.pdf"), b"%PDF").expect("write");
    let attachment =
        Attachment::from_rules_file(&dir, Path::new("anexos/Guia Ouvidoria.pdf")).expect("reads");
    assert_eq!(attachment.file_name, "Guia Ouvidoria.pdf");
    assert_eq!(attachment.content_type, "application/pdf");
    assert_eq!(attachment.content, b"%PDF");
    for bad in ["../segredo.txt", "/etc/passwd", "anexos/../../x", ""] {
        let err = Attachment::from_rules_file(&dir, Path::new(bad)).err();
        assert!(
            matches!(&err, Some(ComposeError::Attachment { reason, .. }) if reason.contains("without '..'")),
            "{bad}: {err:?}"
        );
    }
    let missing = Attachment::from_rules_file(&dir, Path::new("anexos/nao.pdf")).err();
    assert!(
        missing
            .as_ref()
            .is_some_and(|e| e.to_string().contains("cannot read it")),
        "{missing:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn options_come_from_the_mail_and_smtp_settings() {
    let loaded = crate::config::load(&crate::config::LoadOptions {
        file: None,
        default_file: None,
        env: [
            ("CARTEIRO__ZENDESK__SUBDOMAIN", "empresa"),
            ("CARTEIRO__ZENDESK__EMAIL", "bot@empresa.com.br"),
            ("CARTEIRO__ZENDESK__API_TOKEN", "t"),
            ("CARTEIRO__MAIL__OWN_ADDRESSES", "suporte@empresa.com.br"),
            ("CARTEIRO__SMTP__HOST", "smtp.empresa.com.br"),
            ("CARTEIRO__SMTP__FROM_ADDRESS", "suporte@empresa.com.br"),
            ("CARTEIRO__SMTP__FROM_NAME", "Suporte Empresa"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    })
    .expect("valid");
    let smtp = loaded.config.smtp.as_ref().expect("smtp");
    let options = ComposeOptions::for_smtp(&loaded.config.mail, smtp);
    assert_eq!(
        options.from,
        MailAddress::named("Suporte Empresa", "suporte@empresa.com.br")
    );
    assert_eq!(options.message_id_domain, "empresa.com.br");
    assert_eq!(options.loop_header, "X-Carteiro-Loop");
    assert_eq!(
        options.subject_tag.map(|t| t.pattern()).as_deref(),
        Some("[#{id}]")
    );
}
