use super::*;

fn load(files: &[(&str, &str)]) -> Result<Templates, Vec<TemplateProblem>> {
    Templates::from_sources(
        Path::new("rules/templates"),
        files.iter().map(|(n, s)| ((*n).to_owned(), (*s).to_owned())),
        &TemplateOptions::default(),
    )
}

fn loaded(files: &[(&str, &str)]) -> Templates {
    match load(files) {
        Ok(t) => t,
        Err(problems) => panic!("templates do not load: {problems:?}"),
    }
}

fn lines(problems: &[TemplateProblem]) -> Vec<String> {
    problems.iter().map(ToString::to_string).collect()
}

#[test]
fn a_pair_renders_text_and_html_and_a_lone_text_renders_text_only() {
    let templates = loaded(&[
        (
            "confirmacao.txt.j2",
            "Olá, {{ requester.name }}! Chamado #{{ ticket.id }}.",
        ),
        ("confirmacao.html.j2", "<p>Olá, {{ requester.name }}!</p>"),
        ("aviso.txt.j2", "Aviso sobre {{ ticket.subject }}"),
    ]);
    assert_eq!(templates.names().collect::<Vec<_>>(), ["aviso", "confirmacao"]);
    let context = TemplateContext::sample();
    let both = templates.render("confirmacao", &context).expect("renders");
    assert_eq!(both.text, "Olá, Maria da Conceição! Chamado #123.");
    assert_eq!(both.html.as_deref(), Some("<p>Olá, Maria da Conceição!</p>"));
    let text_only = templates.render("aviso", &context).expect("renders");
    assert_eq!(text_only.html, None);
    assert_eq!(
        templates.render("sumiu", &context),
        Err(TemplateError::NotFound {
            name: "sumiu".into(),
            dir: PathBuf::from("rules/templates")
        })
    );
}

#[test]
fn an_undefined_name_is_a_check_problem_with_file_and_line() {
    let templates = loaded(&[(
        "confirmacao.txt.j2",
        "Olá, {{ requester.name }}!\n\nSeu chamado:\n{{ ticket.assunto }}\n",
    )]);
    let problems = lines(&templates.check());
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("rules/templates/confirmacao.txt.j2:4: undefined value"),
        "{problems:?}"
    );
    assert!(problems[0].contains("`ticket.assunto`"), "{problems:?}");

    // Strict, not lenient: testing an undefined name fails too.
    let templates = loaded(&[("a.txt.j2", "linha 1\n{% if requester.telefone %}x{% endif %}")]);
    let problems = lines(&templates.check());
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("rules/templates/a.txt.j2:2: undefined value"),
        "{problems:?}"
    );
}

#[test]
fn the_sample_has_every_documented_variable() {
    let every = "{{ ticket.id }} {{ ticket.subject }} {{ ticket.description }} {{ ticket.status }} {{ ticket.created_at | data_hora }} \
                 {{ ticket.due_at | data_extenso }} {{ ticket.agent_url }} {{ ticket.fields.cnpj | cnpj }} \
                 {{ ticket.fields.qualquer }} {{ requester.name }} {{ requester.email }} \
                 {{ requester.organization }} {{ mail.subject }} {{ mail.body }} {{ mail.from }} \
                 {{ mail.received_at | data_hora }} {{ vars.setor }} {{ vars.outra }}";
    let templates = loaded(&[("tudo.txt.j2", every)]);
    assert_eq!(templates.check(), []);
    let rendered = templates
        .render_value("tudo", &TemplateContext::sample_value())
        .expect("renders");
    assert!(rendered.text.contains("28/05/2019 14:30"), "{}", rendered.text);
    assert!(rendered.text.contains("4 de junho de 2019"), "{}", rendered.text);
    assert!(
        rendered.text.contains("A impressora do balcão"),
        "{}",
        rendered.text
    );
    assert!(rendered.text.contains("11.222.333/0001-81"), "{}", rendered.text);
    assert!(
        rendered.text.contains("⟨ticket.fields.qualquer⟩"),
        "{}",
        rendered.text
    );
    assert!(rendered.text.contains("⟨vars.outra⟩"), "{}", rendered.text);

    // A real render has only the vars it was given.
    let err = templates.render("tudo", &TemplateContext::sample()).err();
    assert!(
        matches!(&err, Some(TemplateError::Render(p)) if p.message.starts_with("undefined value")),
        "{err:?}"
    );
}

#[test]
fn html_templates_escape_and_text_templates_do_not() {
    let templates = loaded(&[
        ("r.txt.j2", "{{ mail.body }}"),
        ("r.html.j2", "<p>{{ mail.body }}</p>"),
    ]);
    let mut context = TemplateContext::sample();
    context.mail.body = "<script>alert('x')</script> & \"aspas\"".to_owned();
    let rendered = templates.render("r", &context).expect("renders");
    assert_eq!(rendered.text, "<script>alert('x')</script> & \"aspas\"");
    assert_eq!(
        rendered.html.as_deref(),
        Some("<p>&lt;script&gt;alert(&#x27;x&#x27;)&lt;&#x2f;script&gt; &amp; &quot;aspas&quot;</p>")
    );

    // Our filters' output is safe as is; a CNPJ field that is not one is
    // customer text and stays escaped.
    let templates = loaded(&[
        ("f.txt.j2", "x"),
        (
            "f.html.j2",
            "{{ ticket.created_at | data_hora }} {{ ticket.fields.cnpj | cnpj }} {{ ticket.fields.outro | cnpj }}",
        ),
    ]);
    let mut context = TemplateContext::sample();
    context
        .ticket
        .fields
        .insert("outro".to_owned(), "<b>123</b>".to_owned());
    let rendered = templates.render("f", &context).expect("renders");
    assert_eq!(
        rendered.html.as_deref(),
        Some("28/05/2019 14:30 11.222.333/0001-81 &lt;b&gt;123&lt;&#x2f;b&gt;")
    );
}

#[test]
fn customer_text_is_a_value_never_template_source() {
    let templates = loaded(&[
        ("r.txt.j2", "Assunto: {{ mail.subject }}\n{{ mail.body }}"),
        ("r.html.j2", "<p>{{ mail.body }}</p>"),
    ]);
    let mut context = TemplateContext::sample();
    context.mail.subject = "{{ 7*7 }}".to_owned();
    context.mail.body =
        "{% for x in range(10) %}{{ x }}{% endfor %} {{ requester.email }} {% raw %}".to_owned();
    let rendered = templates.render("r", &context).expect("renders");
    assert_eq!(
        rendered.text,
        "Assunto: {{ 7*7 }}\n{% for x in range(10) %}{{ x }}{% endfor %} {{ requester.email }} {% raw %}"
    );
    assert!(!rendered.text.contains("49"));
    assert!(!rendered.text.contains("0123456789"));
    assert_eq!(
        rendered.html.as_deref(),
        Some("<p>{% for x in range(10) %}{{ x }}{% endfor %} {{ requester.email }} {% raw %}</p>")
    );
}

#[test]
fn fuel_stops_a_runaway_loop_with_its_location() {
    let templates = loaded(&[(
        "loop.txt.j2",
        "início\n{% for a in range(1000) %}{% for b in range(1000) %}{{ a * b }}{% endfor %}{% endfor %}",
    )]);
    let problems = lines(&templates.check());
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("rules/templates/loop.txt.j2:2: engine ran out of fuel"),
        "{problems:?}"
    );
}

#[test]
fn syntax_errors_and_bad_files_are_all_reported_at_load() {
    let problems = load(&[
        ("ok.txt.j2", "fine"),
        ("quebrado.txt.j2", "linha 1\nlinha 2\n{% if ticket.id %}sem fim"),
        ("so-html.html.j2", "<p>oi</p>"),
        ("nome ruim.txt.j2", "x"),
        ("outro.j2", "x"),
        ("inclui.txt.j2", "{% include 'ok.txt.j2' %}"),
    ])
    .err()
    .unwrap_or_default();
    let problems = lines(&problems);
    assert_eq!(problems.len(), 5, "{problems:#?}");
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("rules/templates/quebrado.txt.j2:3: syntax error")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("rules/templates/so-html.html.j2: an HTML template needs its text part")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("rules/templates/nome ruim.txt.j2: template names are letters")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("rules/templates/outro.j2: a template is NAME.txt.j2")),
        "{problems:#?}"
    );
    // No include, import or extends: a template cannot reach other files.
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("rules/templates/inclui.txt.j2:1: syntax error")),
        "{problems:#?}"
    );
}

#[test]
fn cnpj_valido_tests_the_check_digits() {
    let templates = loaded(&[(
        "c.txt.j2",
        "{{ ticket.fields.cnpj is cnpj_valido }} {{ \"11.222.333/0001-82\" is cnpj_valido }} \
         {{ 7 is cnpj_valido }}",
    )]);
    let rendered = templates
        .render("c", &TemplateContext::sample())
        .expect("renders");
    assert_eq!(rendered.text, "True False False");
}

#[test]
fn filters_work_inside_templates_with_the_configured_zone() {
    let options = TemplateOptions {
        time_zone: chrono_tz::America::Manaus,
        ..TemplateOptions::default()
    };
    let templates = Templates::from_sources(
        Path::new("t"),
        [(
            "d.txt.j2".to_owned(),
            "{{ ticket.created_at | data_hora }} | {{ ticket.created_at | data_hora(\"America/Sao_Paulo\") }} \
             | {{ ticket.created_at | data_extenso }} | {{ ticket.fields.cnpj | cnpj }}"
                .to_owned(),
        )],
        &options,
    )
    .expect("loads");
    let rendered = templates
        .render("d", &TemplateContext::sample())
        .expect("renders");
    assert_eq!(
        rendered.text,
        "28/05/2019 13:30 | 28/05/2019 14:30 | 28 de maio de 2019 | 11.222.333/0001-81"
    );
}

#[test]
fn a_folder_loads_from_disk_and_skips_other_files() {
    let dir = std::env::temp_dir().join(format!("carteiro-templates-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("a.txt.j2"), "{{ ticket.id }}").expect("write");
    std::fs::write(dir.join("manual.pdf"), b"%PDF-1.4").expect("write");
    std::fs::write(dir.join("b.txt.j2"), b"\xff\xfe").expect("write");
    let problems = Templates::load_dir(&dir, &TemplateOptions::default())
        .err()
        .unwrap_or_default();
    assert_eq!(
        lines(&problems),
        [format!(
            "{}: not UTF-8; save the template as UTF-8",
            dir.join("b.txt.j2").display()
        )]
    );
    std::fs::remove_file(dir.join("b.txt.j2")).expect("rm");
    let templates = Templates::load_dir(&dir, &TemplateOptions::default()).expect("loads");
    assert_eq!(templates.names().collect::<Vec<_>>(), ["a"]);
    let missing = check_dir(&dir.join("nao-existe"), &TemplateOptions::default());
    assert!(
        lines(&missing)[0].contains("cannot read the templates folder"),
        "{missing:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_shipped_templates_check_clean_and_read_well() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/templates");
    let options = TemplateOptions::default();
    assert_eq!(lines(&check_dir(&dir, &options)), Vec::<String>::new());
    let templates = Templates::load_dir(&dir, &options).expect("loads");
    assert_eq!(
        templates.names().collect::<Vec<_>>(),
        [
            "ciclo_avaliacao_registrada",
            "ciclo_confirmacao",
            "ciclo_pesquisa",
            "ciclo_resposta",
            "confirmacao",
            "consultoria_confirmacao_duvida",
            "consultoria_confirmacao_problema",
            "consultoria_escalado",
            "consultoria_prazo_alerta",
            "consultoria_prazo_vencido",
            "consultoria_resolvido",
            "consultoria_resposta",
            "encaminhamento",
            "manifestacoes_a_classificar",
            "manifestacoes_aprovada",
            "manifestacoes_em_atendimento",
            "manifestacoes_encerrada",
            "manifestacoes_estatistica_semanal",
            "manifestacoes_falta_motivo_origem",
            "manifestacoes_justificativa",
            "manifestacoes_nota_registrada",
            "manifestacoes_pedido_nota_parcial",
            "manifestacoes_prazo_revertido",
            "manifestacoes_recebida",
            "manifestacoes_resumo_diario",
            "os_book_cadastro",
            "os_cadastro_cliente",
            "os_gestor_conta",
            "os_pendencias",
            "os_setor",
            "ouvidoria_aberta",
            "ouvidoria_autoatendimento",
            "ouvidoria_autoatendimento_nota",
            "ouvidoria_devolvida",
            "ouvidoria_nota",
        ]
    );
    assert!(templates.reads("ciclo_confirmacao", "articles"));
    assert!(templates.reads("consultoria_confirmacao_duvida", "articles"));
    assert!(!templates.reads("consultoria_confirmacao_problema", "articles"));
    let rendered = templates
        .render("confirmacao", &TemplateContext::sample())
        .expect("renders");
    assert!(
        rendered
            .text
            .starts_with("Olá, Maria da Conceição!\n\nRecebemos sua mensagem"),
        "{}",
        rendered.text
    );
    assert!(
        rendered
            .text
            .contains("Nosso prazo para responder é 4 de junho de 2019.\n\nPara"),
        "{}",
        rendered.text
    );
    assert!(
        rendered.text.contains("recebida em 28/05/2019 14:29:"),
        "{}",
        rendered.text
    );
    let html = rendered.html.unwrap_or_default();
    assert!(html.contains("<strong>#123</strong>"), "{html}");
    // Our own formatted dates are not escaped into &#x2f; soup.
    assert!(html.contains("recebida em 28/05/2019 14:29:"), "{html}");
    let mut no_due = TemplateContext::sample();
    no_due.ticket.due_at = None;
    let rendered = templates.render("confirmacao", &no_due).expect("renders");
    assert!(
        rendered.text.contains("\"Impressora parada\".\n\nPara"),
        "{}",
        rendered.text
    );
    let forwarded = templates
        .render("encaminhamento", &TemplateContext::sample())
        .expect("renders");
    assert!(
        forwarded.text.contains("CNPJ: 11.222.333/0001-81\n"),
        "{}",
        forwarded.text
    );
    assert!(
        forwarded
            .text
            .starts_with("Ordem de serviço encaminhada ao setor Financeiro\n"),
        "{}",
        forwarded.text
    );
    assert_eq!(forwarded.html, None);
}

#[test]
fn the_daily_digest_template_lists_the_four_sections_in_text_and_html() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/templates");
    let templates = Templates::load_dir(&dir, &TemplateOptions::default()).expect("loads");
    let context = TemplateContext::sample().digest_value(&DigestVars::sample());
    let rendered = templates
        .render_value("manifestacoes_resumo_diario", &context)
        .expect("renders");
    let text = &rendered.text;
    let sections = [
        "Vencidas e sem responsável: 1",
        "Vencidas: 1",
        "Vencem hoje: 1",
        "Vencem nos próximos 2 dias úteis: 1",
    ];
    let mut from = 0;
    for section in sections {
        let at = text[from..]
            .find(section)
            .unwrap_or_else(|| panic!("{section:?} missing or out of order in:\n{text}"));
        from += at + section.len();
    }
    // Each ticket under its own section: #120 (unassigned) first.
    let unassigned = text.find("#120").expect("#120");
    let overdue = text.find("#121").expect("#121");
    assert!(
        unassigned < overdue && overdue < text.find("#122").expect("#122"),
        "{text}"
    );
    assert!(text.contains("sem responsável"), "{text}");
    assert!(text.contains("4 de junho de 2019"), "{text}");
    let html = rendered.html.expect("an HTML part");
    // One bar per bucket, each a quarter of the four tickets.
    assert_eq!(html.matches("width:25%").count(), 4, "{html}");
    // The link's slashes come HTML-escaped, which a mail reader decodes.
    assert!(html.contains("agent&#x2f;tickets&#x2f;123\">#123</a>"), "{html}");

    // An empty digest says so, with zero-width bars.
    let mut empty = DigestVars::sample();
    empty.tickets.clear();
    empty.total = 0;
    for count in empty.counts.values_mut() {
        *count = 0;
    }
    let rendered = templates
        .render_value(
            "manifestacoes_resumo_diario",
            &TemplateContext::sample().digest_value(&empty),
        )
        .expect("renders");
    assert!(
        rendered.text.contains("Nenhuma manifestação vencida"),
        "{}",
        rendered.text
    );
    assert_eq!(rendered.html.expect("html").matches("width:0%").count(), 4);
}

#[test]
fn the_weekly_statistics_template_shows_each_breakdown_with_its_deadline_figures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/templates");
    let templates = Templates::load_dir(&dir, &TemplateOptions::default()).expect("loads");
    let mut report = ReportVars::sample();
    // The pack's names: tipo, status and motivo.
    let tipo = report.by["tipo"].clone();
    report.by.insert("motivo".to_owned(), Vec::new());
    let context = TemplateContext::sample().report_value(&report);
    let rendered = templates
        .render_value("manifestacoes_estatistica_semanal", &context)
        .expect("renders");
    let text = &rendered.text;
    for line in [
        "de 27 de maio de 2019 a 2 de junho de 2019",
        "Recebidas no período: 10\n",
        "Encerradas no período: 8\n",
        "Cumprimento do prazo: 75% no prazo (6 de 8)\n",
        "Em aberto agora: 3, 1 vencida(s)\n",
        "Por tipo:\n- reclamação: 6 recebida(s) (60%), 5 encerrada(s), 60% no prazo (3 de 5), 2 em aberto\n",
        "- não informado: 1 recebida(s) (10%), 0 encerrada(s), sem encerramento com prazo, 1 em aberto\n",
        "Por status atual:\n- fechada: 6",
        "Por motivo:\n- nenhuma manifestação no período\n",
    ] {
        assert!(text.contains(line), "{line:?} missing in:\n{text}");
    }
    let html = rendered.html.expect("an HTML part");
    // A bar per row, as wide as its share of the received.
    for row in &tipo {
        assert!(html.contains(&format!("width:{}%", row.share)), "{html}");
    }
    assert!(html.contains("width:75%"), "the deadline bar: {html}");
    assert!(
        html.contains("<td style=\"padding:2px 8px\">reclamação</td>"),
        "{html}"
    );
}
