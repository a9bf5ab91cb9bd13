"""The page itself: its tabs, components and the events that wire them to a
:class:`~assistant_ui.service.ChatService`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assistant import AssistantError
from assistant.ingest.formats import FORMATS

from .overview import EXAMPLES_SHOWN
from .permalinks import KEEP_QUERY_JS, SET_URL_JS
from .render import cards_html, recheck_html
from .watching import FEED_HEADERS

if TYPE_CHECKING:
    # For annotations only: gradio takes seconds to import, so build_app imports it when the page is built.
    import gradio as gr
    from gradio.components import Component

    from .service import ChatService

# How often an open page asks whether the index changed (an update from the Library tab, the command line or
# another page), to keep its header and example questions current.
OVERVIEW_SECONDS = 30
BUILD_POLL_SECONDS = 2
CSS = """
.cards .card { border: 1px solid #ddd; border-radius: 8px; padding: 8px 12px; margin: 8px 0; }
.cards.abstained .card { border-style: dashed; opacity: 0.85; }
.card:target { outline: 3px solid #f5a623; }
.card mark { background: #fff3a3; }
.card-meta { color: #666; font-size: 0.9em; }
.unsupported { color: #b00020; font-size: 0.9em; }
.coverage { color: #555; font-size: 0.9em; }
.held-back { color: #555; font-style: italic; }
.recheck-columns { display: flex; gap: 12px; }
.recheck-column { flex: 1; border: 1px solid #ddd; border-radius: 8px; padding: 8px 12px; }
.recheck-note { font-weight: bold; }
.watch-badge { color: #b35c00; font-weight: bold; }
.watched { border-top: 1px solid #ddd; padding-top: 6px; }
"""


def build_app(service: ChatService) -> gr.Blocks:
    import gradio as gr

    sources = service.sources()
    llm_configured = bool(service.settings.llm_base_url)
    filters: list[Component] = []
    # Bound apart from the with: Blocks.__enter__ returns self but is unannotated, so `as demo` would be Any.
    demo = gr.Blocks(title="News QA assistant")
    with demo:
        turns = gr.State([])
        header = gr.Markdown(elem_id="overview")
        badge = gr.HTML("", elem_id="watch-badge")
        with gr.Tab("Chat"):
            with gr.Row():
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(label="Answers", height=480, elem_id="chat")
                    question = gr.Textbox(label="Question", placeholder="Ask about the articles…", max_length=2000)
                    with gr.Row():
                        send = gr.Button("Ask", variant="primary")
                        as_timeline = gr.Button("Show as timeline")
                        new_chat = gr.Button("New chat")
                        watch_question = gr.Button("Watch this question")
                    permalink = gr.HTML("", elem_id="permalink")
                    watch_note = gr.HTML("", elem_id="watch-note")
                    with gr.Column(elem_id="examples"):
                        # Buttons, not gr.Examples: those are fixed when the page is built and cut long headlines.
                        examples = [
                            gr.Button(visible=False, size="sm", variant="secondary") for _ in range(EXAMPLES_SHOWN)
                        ]
                with gr.Column(scale=2):
                    cards = gr.HTML(cards_html(None, ""), elem_id="cards")
            recheck = gr.HTML("", elem_id="recheck")
            with gr.Accordion("Filters", open=False):
                with gr.Row():
                    as_of = gr.Textbox(label="As of (YYYY-MM-DD)")
                    since = gr.Textbox(label="Since")
                    until = gr.Textbox(label="Until")
                with gr.Row():
                    source_pick = gr.Dropdown(sources, multiselect=True, label="Sources")
                    k = gr.Slider(1, 20, value=service.settings.k, step=1, label="Passages")
                    answerer = gr.Radio(
                        ["extractive", "llm"],
                        value=service.assistant.answerer if service.ready else service.settings.answerer,
                        label="Answerer",
                        visible=llm_configured,
                    )
            filters = [as_of, since, until, source_pick, k, answerer]
        with gr.Tab("Library"):
            stats = gr.Markdown()
            article_filter = gr.Textbox(label="Find an article")
            articles = gr.Dataframe(headers=["title", "source", "date", "id"], interactive=False)
            # Types are checked per file in add_articles (not by Gradio, which would refuse the whole upload), so
            # each refused file gets its own reason while the others are added.
            uploads = gr.File(label=f"Add files ({' '.join(FORMATS)})", file_count="multiple")
            url = gr.Textbox(label="…or an article URL")
            pasted_title = gr.Textbox(label="…or paste a title")
            pasted = gr.Textbox(label="…and its text", lines=6)
            add = gr.Button("Add to the index", variant="primary")
            result = gr.JSON(label="Update")
            with gr.Accordion("Feeds", open=True, elem_id="feeds"):
                feeds_table = gr.Dataframe(headers=FEED_HEADERS, interactive=False, elem_id="feeds-table")
                feed_url = gr.Textbox(label="Feed URL (RSS or Atom)")
                with gr.Row():
                    add_feed = gr.Button("Watch feed")
                    remove_feed = gr.Button("Stop watching feed")
                    fetch_feeds = gr.Button("Fetch feeds now")
                feed_note = gr.Markdown(elem_id="feed-note")
        with gr.Tab("Watched"):
            watched = gr.HTML("", elem_id="watched")
            watched_pick = gr.Dropdown([], label="Watched question")
            with gr.Row():
                mark_seen = gr.Button("Mark as seen")
                forget = gr.Button("Stop watching")

        chat_inputs = [question, chatbot, turns, *filters]
        chat_outputs = [chatbot, cards, turns, question]
        # After each answer, its permalink is shown and becomes the page's URL (without reloading the page).
        show_link = {"fn": service.permalink, "inputs": [turns, *filters], "outputs": permalink}
        for event in (
            send.click(service.chat, chat_inputs, chat_outputs, api_name="chat"),
            question.submit(service.chat, chat_inputs, chat_outputs, api_visibility="private"),
            as_timeline.click(service.timeline, [chatbot, turns, *filters], chat_outputs, api_name="timeline"),
        ):
            event.then(**show_link, api_visibility="private").then(None, None, None, js=SET_URL_JS)
        new_chat.click(
            lambda: ([], cards_html(None, ""), [], "", ""),
            None,
            [chatbot, cards, turns, permalink, recheck],
            api_name="new_chat",
        )

        def reopen(request: gr.Request) -> Any:
            """Opened from a permalink: re-ask its question and re-check it against the index as it is now."""
            outputs = [chatbot, cards, turns, as_of, since, until, source_pick, k, recheck, permalink]
            try:
                found = service.reopen(request.query_params)
            except AssistantError as exc:
                return [gr.skip()] * 8 + [recheck_html("This link cannot be re-asked: " + str(exc), None, None), ""]
            if found is None:
                return [gr.skip()] * len(outputs)
            link_as_of, link_since, link_until, link_sources, link_k = found["filters"]
            return [
                found["chat"],
                found["cards"],
                found["turns"],
                link_as_of,
                link_since,
                link_until,
                [s for s in link_sources if s in sources],
                link_k or service.settings.k,
                found["recheck"],
                found["permalink"],
            ]

        hidden_q = gr.Textbox(visible=False)
        hidden_out = gr.JSON(visible=False)
        hidden_q.submit(service.ask, [hidden_q, *filters], hidden_out, api_name="ask")
        hidden_s = gr.Textbox(visible=False)
        hidden_s.submit(service.search, [hidden_s, *filters], hidden_out, api_name="search")

        def add_articles(
            files: list[str] | None,
            link: str,
            text: str,
            title: str,
            progress: gr.Progress = gr.Progress(),  # noqa: B008 - Gradio injects progress through this default
        ) -> tuple[dict[str, Any], str, list[list[str]]]:
            def report(done: int, total: int, *_: int) -> None:
                progress((done, max(total, 1)), desc="embedding new articles")

            outcome = service.add_articles(files, link, text, title, report)
            return (outcome, *service.library(""))

        def overview() -> list[Any]:
            text, questions = service.overview()
            padded = [*questions, *[""] * (EXAMPLES_SHOWN - len(questions))]
            return [text, *(gr.Button(value=q, visible=bool(q)) for q in padded)]

        shown = [header, *examples]
        demo.load(overview, None, shown, api_visibility="private")
        gr.Timer(OVERVIEW_SECONDS).tick(overview, None, shown, queue=False, show_progress="hidden")

        # Watching: the badge, the watched questions and the feed list, kept current like the header.
        watching = service.watch

        def watch_view() -> list[Any]:
            service.recheck_watched()  # an update from elsewhere (the command line) changes answers too
            return [
                watching.badge(),
                watching.questions_html(),
                gr.Dropdown(choices=watching.choices()),
                watching.feed_rows(),
            ]

        view = [badge, watched, watched_pick, feeds_table]
        demo.load(watch_view, None, view, api_visibility="private")
        gr.Timer(OVERVIEW_SECONDS).tick(watch_view, None, view, show_progress="hidden")
        watch_question.click(
            watching.watch, [turns, source_pick, since, until], watch_note, api_name="watch_question"
        ).then(watch_view, None, view, api_visibility="private")
        for button, action in ((add_feed, watching.add_feed), (remove_feed, watching.remove_feed)):
            button.click(action, feed_url, feed_note, api_visibility="private").then(
                watch_view, None, view, api_visibility="private"
            )
        fetch_feeds.click(lambda: watching.fetch_now(), None, feed_note, api_name="fetch_feeds").then(
            watch_view, None, view, api_visibility="private"
        ).then(overview, None, shown, api_visibility="private")
        for button, choose in ((mark_seen, watching.seen), (forget, watching.forget)):
            button.click(choose, watched_pick, None, api_visibility="private").then(
                watch_view, None, view, api_visibility="private"
            )
        # While a first build runs (serve --corpus on a location without an index), its progress every second or
        # two, and the outlets for the filter once it is done; then this timer stops.
        building = gr.Timer(BUILD_POLL_SECONDS, active=not service.ready)

        def build_tick() -> list[Any]:
            return [*overview(), gr.Dropdown(choices=service.sources()), gr.Timer(active=not service.ready)]

        building.tick(build_tick, None, [*shown, source_pick, building], queue=False, show_progress="hidden")
        for example in examples:
            example.click(lambda text: text, example, question, api_visibility="private")
        add.click(
            add_articles, [uploads, url, pasted, pasted_title], [result, stats, articles], api_name="add_articles"
        ).then(overview, None, shown, api_visibility="private")
        article_filter.change(service.library, article_filter, [stats, articles], api_visibility="private")
        demo.load(service.library, None, [stats, articles], api_visibility="private")
        # Gradio finds the request parameter by its type; this module's annotations are strings (gradio is imported
        # lazily), so the type is given as an object.
        reopen.__annotations__["request"] = gr.Request
        demo.load(None, None, None, js=KEEP_QUERY_JS)
        demo.load(
            reopen,
            None,
            [chatbot, cards, turns, as_of, since, until, source_pick, k, recheck, permalink],
            api_visibility="private",
        )
    return demo
