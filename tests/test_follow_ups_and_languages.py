"""Follow-ups and questions in other languages, as the issue 11 user asked them (answers on real pages).

Rewrites are checked offline against the turns the issue reports; the language rules are checked on the real
articles' reductions in tests/data/real with the packaged English-only model, and with a small multilingual-named
model folder built here, since no multilingual model package is installed on this machine.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from assistant.answer.conversation import Turn, condense
from assistant.settings import Settings
from assistant.text.languages import ENGLISH, question_language


@pytest.mark.parametrize(
    ("previous", "answer", "follow_up", "expected"),
    [
        # "his" is the person the answer named, not the one the question did.
        (
            "Who replaced Mauricio Pochettino at Tottenham?",
            "Jose Mourinho has agreed a deal to replace Mauricio Pochettino as Tottenham's manager until the end of "
            "the 2022/23 season.",
            "How long is his contract?",
            "How long is Jose Mourinho’s contract?",
        ),
        (
            "Who is Tottenham's new manager?",
            "Jose Mourinho has agreed a deal to replace Mauricio Pochettino as Tottenham's manager.",
            "How long is his contract?",
            "How long is Jose Mourinho’s contract?",
        ),
        # "they" are the scientists, whom no name stands for: both turns are searched, never "did Jupiter's use".
        (
            "What did scientists detect above Jupiter's moon Europa?",
            "Paganini and his colleagues used the W.M. Keck Observatory in Hawaii to study Europa.",
            "Which telescope did they use?",
            "Which telescope did they use? What did scientists detect above Jupiter's moon Europa?",
        ),
        # An organisation can be "they".
        ("What did NASA find on Europa?", "", "Which telescope did they use?", "Which telescope did NASA use?"),
        # "And best actress?" takes the place of "best actor", not a tail on the question.
        (
            "Who won best actor at the SAG awards?",
            "Joaquin Phoenix and Renee Zellweger were named best actors.",
            "And best actress?",
            "Who won best actress at the SAG awards?",
        ),
        ("Who won the election in Ohio?", "", "And in Texas?", "Who won the election in Texas?"),
        # Nothing in the question plays the new subject's part: both turns.
        (
            "How many people will lose power in the PG&E shutoff?",
            "",
            "And the schools?",
            "And the schools? How many people will lose power in the PG&E shutoff?",
        ),
        # "her" before a noun is possessive, after a verb an object.
        (
            "What did Kristi Noem say about the campaign?",
            "",
            "Who criticised her campaign?",
            "Who criticised Kristi Noem’s campaign?",
        ),
        ("What did Kristi Noem say about the campaign?", "", "Who asked her about it?", None),
        # "And" before a question of its own: its pronoun is resolved, never spliced into the last question
        # ("Why did what position does he hold at Disney say…", "…still committed to the Dubai Air Show?").
        (
            "Why did Disney's Kevin Mayer say the Disney+ launch ran into problems?",
            "Kevin Mayer, the head of Disney's direct-to-consumer unit, said the launch ran into technical problems.",
            "And what position does he hold at Disney?",
            "What position does Kevin Mayer hold at Disney?",
        ),
        (
            "How many Boeing 787 jets did Emirates order at the Dubai Air Show?",
            "Emirates ordered 30 Boeing 787 jets at the Dubai Air Show.",
            "And how many 777X jets are they still committed to?",
            "How many 777X jets are they still committed to? "
            "How many Boeing 787 jets did Emirates order at the Dubai Air Show?",
        ),
        ("How much did Alibaba invest in AI?", "", "And how much did Tencent spend?", "How much did Tencent spend?"),
        ("How much did Alibaba invest in AI?", "", "And what about Baidu?", "How much did Baidu invest in AI?"),
        # A pronoun after the question's own name is that name's.
        (
            "How much did Alibaba invest in AI?",
            "",
            "Did Tencent say it would invest more?",
            "Did Tencent say it would invest more?",
        ),
    ],
)
def test_follow_ups_read_right_or_search_both_turns(previous, answer, follow_up, expected):
    got = condense(follow_up, [Turn(previous, previous, answer, (answer,) if answer else ())])
    if expected is None:  # "it" has no referent here: searched with the previous question
        assert got == f"{follow_up} {previous}"
    else:
        assert got == expected
    assert "'s use" not in got and "’s use" not in got


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("Wie lange dauert die schnellste Zugverbindung von Madrid nach Stockholm?", "de"),
        ("Mit welcher Firma startet Lyft Robotertaxis in Phoenix?", "de"),
        ("Во что можно верить безоговорочно?", "ru"),
        ("Combien d'avions Boeing 787 Emirates a-t-elle commandés ?", "fr"),
        ("How many people will lose power in the PG&E shutoff?", ENGLISH),
        ("And best actress?", ENGLISH),
        ("Why?", ENGLISH),
        ("Alibaba AI investment 2025", ENGLISH),  # keywords: not enough to call it another language
        ("Tencent?", ENGLISH),
    ],
)
def test_question_language(question: str, language: str) -> None:
    assert question_language(question) == language


# -- answers in other languages, with the packaged English-only model and with a multilingual one -----------------

REAL = Path(__file__).parent / "data" / "real"
PAGES = ("zeit-fragment-answer.html", "undeclared-koi8r.xml", "timesunion-syndicated-agency.html")


@pytest.fixture(scope="module")
def real_pages_index(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Path:
    from assistant import build_index

    folder = tmp_path_factory.mktemp("pages")
    for path in REAL.iterdir():  # every reduction: the pages asked about compete with the others
        if path.name != "README.md":
            shutil.copy(path, folder / path.name)
    index = tmp_path_factory.mktemp("pages-index") / "idx"
    build_index([folder], index, embedder=real_embedder, settings=Settings(progress=False))
    return index


def ask(index: Path, embedder, question: str, **settings):
    from assistant.answer.assistant import Assistant

    with Assistant.open(index, embedder=embedder, settings=Settings(progress=False, **settings)) as assistant:
        return assistant.ask(question)


def test_german_question_is_answered_from_its_words_and_says_why(real_pages_index: Path, real_embedder) -> None:
    answer = ask(
        real_pages_index, real_embedder, "Wie lange dauert die schnellste Zugverbindung von Madrid nach Stockholm?"
    )
    assert not answer.abstained
    assert "36 Stunden. So lange dauert die schnellste Zugverbindung von Madrid nach Stockholm." in answer.text
    assert answer.notice is not None and "German" in answer.notice and "only understands English" in answer.notice


def test_russian_question_about_a_russian_feed(real_pages_index: Path, real_embedder) -> None:
    answer = ask(real_pages_index, real_embedder, "Где собираются жители в последний вечер декабря?")
    assert not answer.abstained and "на главной площади" in answer.text
    assert "Russian" in (answer.notice or "")


def test_english_question_gets_no_language_notice(real_pages_index: Path, real_embedder) -> None:
    answer = ask(real_pages_index, real_embedder, "How many people will lose power in the PG&E shutoff?")
    assert not answer.abstained and "375,000 people" in answer.text  # it abstained before issue 11
    assert answer.notice is None


def test_an_abstention_on_a_foreign_question_says_the_model_is_why(real_pages_index: Path, real_embedder) -> None:
    answer = ask(real_pages_index, real_embedder, "Quel est le meilleur fromage de Normandie ?")
    assert answer.abstained
    assert "The question is in French, which the embedding model" in answer.text


@pytest.fixture(scope="module")
def multilingual_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny sentence-transformers model folder (random weights, MiniLM's vocabulary), named as a multilingual one.

    No multilingual model is installed here; this exercises the path a user's own model folder takes
    (ASSISTANT_MODEL), not the quality of its answers.
    """
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel, BertTokenizerFast

    from assistant.embed.base import packaged_model_path

    folder = tmp_path_factory.mktemp("models") / "tiny-multilingual-model"
    tokenizer = BertTokenizerFast(vocab_file=str(packaged_model_path() / "vocab.txt"), do_lower_case=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder / "hf")
    tokenizer.save_pretrained(folder / "hf")
    modules = [models.Transformer(str(folder / "hf"), max_seq_length=256), models.Pooling(32, "mean")]
    SentenceTransformer(modules=modules, device="cpu").save(str(folder))
    return folder


def test_a_multilingual_model_folder_works_end_to_end(
    multilingual_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from assistant.cli import cli

    for name in PAGES:
        shutil.copy(REAL / name, tmp_path / name)
    monkeypatch.setenv("ASSISTANT_MODEL", str(multilingual_model))
    runner = CliRunner()
    built = runner.invoke(cli, ["index", "build", str(tmp_path), "--index", str(tmp_path / "idx")])
    assert built.exit_code == 0, built.output
    info = runner.invoke(cli, ["index", "info", "--index", str(tmp_path / "idx"), "--json"])
    assert json.loads(info.stdout)["model"]["name"] == str(multilingual_model)
    question = "Wie lange dauert die schnellste Zugverbindung von Madrid nach Stockholm?"
    asked = runner.invoke(cli, ["ask", question, "--index", str(tmp_path / "idx"), "--json"])
    assert asked.exit_code == 0, asked.output
    answer = json.loads(asked.stdout)
    assert "only understands English" not in (answer["notice"] or "") and "does not understand" not in answer["text"]
    # The same model declared English-only: the answer leans on words and says so.
    monkeypatch.setenv("ASSISTANT_MODEL_MULTILINGUAL", "false")
    asked = runner.invoke(cli, ["ask", question, "--index", str(tmp_path / "idx"), "--json"])
    answer = json.loads(asked.stdout)
    assert "German" in (answer["notice"] or "") + answer["text"]


@pytest.mark.parametrize(
    ("previous", "short", "follow_up", "expected"),
    [
        # The bold answer is what the next pronoun most often stands for, by the kind the question asked for.
        ("Which team won the 2022 NHL Stanley Cup Finals?", "Colorado Avalanche", "Who did they beat in the final?",
         "Who did Colorado Avalanche beat in the final?"),
        ("Which airline announced a deal to buy Spirit Airlines?", "JetBlue Airways", "How much will it pay?",
         "How much will JetBlue Airways pay?"),
        ("Which popular singer will launch a Las Vegas residency?", "Adele", "When does her residency start?",
         "When does Adele’s residency start?"),
        ("Broadway’s biggest stars were recognized at which awards show?", "The Tony Awards", "Who hosted it?",
         "Who hosted the Tony Awards?"),
        ("Which continent will require a single charging standard?", "Europe", "When will the rule take effect there?",
         "When will the rule take effect in Europe?"),
        # Not the subject again as its own object; a team is not who "he" is.
        ("Which automaker recalled 2.9 million vehicles this week?", "Ford", "Why did it recall them?",
         "Why did Ford recall them?"),
        ("After NFL quarterback Deshaun Watson was suspended, which team did he play for?", "Cleveland Browns",
         "Which team does he play for?", "Which team does Deshaun Watson play for?"),
        # Ordinals pick from a listed answer; titles are not part of the name; a pair named together is "they".
        ("Which two countries did NATO invite to join?", "Sweden and Finland", "When did the second one apply?",
         "When did Finland apply?"),
        ("House Speaker Nancy Pelosi made a visit to which area?", "Taiwan", "How did China respond to her visit?",
         "How did China respond to House Speaker Nancy Pelosi’s visit?"),
        ("What did Jennifer Lopez and Ben Affleck announce?", "They got married", "Where did they get married?",
         "Where did Jennifer Lopez and Ben Affleck get married?"),
        ("Which team did Vin Scully call games for?", "Los Angeles Dodgers", "Who owns them now?",
         "Who owns Los Angeles Dodgers now?"),
        # Pointing back with "the lunch": searched with the last turn's names and answer beside it, said as such.
        ("A bidder paid a record sum for a lunch with Warren Buffett. How much?", "$19 million",
         "What charity does the lunch benefit?", "What charity does the lunch benefit? (Warren Buffett)"),
    ],
)  # fmt: skip
def test_a_follow_up_reads_the_last_answer(previous, short, follow_up, expected):
    assert condense(follow_up, [Turn(previous, previous, short, (), short)]) == expected


def test_a_follow_up_after_an_answer_object_uses_its_direct_answer(seed_index, real_embedder) -> None:
    """Through the Answer the page and the CLI pass back: its bold direct answer is the referent."""
    from assistant import Assistant

    # The reader is right ("Alibaba") but only 22% sure of a one-article answer: held back by default. This test is
    # about the follow-up, so the bar is lowered below it.
    low_bar = Settings(progress=False, reader_confidence=0.2)
    with Assistant.open(seed_index, embedder=real_embedder, settings=low_bar) as assistant:
        first = assistant.ask("Which company invested 23 billion yuan in AI in the first half of last year?")
        assert first.short_answer is not None and "Alibaba" in first.short_answer.text
        follow_up = assistant.ask("What else did it invest in?", history=[first])
    assert follow_up.query == f"What else did {first.short_answer.text} invest in?"


# -- held-out garbles (bench/follow_up_questions_heldout.jsonl): fixed by general rules, checked on paraphrases ----


@pytest.mark.parametrize(
    ("previous", "short", "follow_up", "expected"),
    [
        # A question asking someone's name: no name said so far is who "he" is (not "What is Gustavo Petro's name?");
        # the answer is carried beside it, said as such.
        ("What country elected its first leftist leader?", "Colombia", "What is his name?",
         "What is his name? (Colombia)"),
        ("The first lady met the first lady of which country?", "Ukraine", "What is her name?",
         "What is her name? (Ukraine)"),
        # "it" after a place answer, when the last question introduced what acted with "a": the quake, not the country.
        ("Which country was shaken by a strong earthquake?", "Philippines", "How many people did it kill?",
         "How many people did it kill? (Philippines)"),
        ("A wildfire forced people to evacuate near which national park?", "Yosemite", "How many acres has it burned?",
         "How many acres has it burned? (Yosemite)"),
        ("Which national park was hit by severe flooding?", "Yellowstone", "When will it reopen?",
         "When will Yellowstone reopen?"),
        ("What country announced a crackdown on toys?", "Saudi Arabia", "Which other items did it seize?",
         "Which other items did Saudi Arabia seize?"),
        # An answer that is no name ("Baby formula"): carried in brackets, not "When will Baby formula be…".
        ("Which product is hard to find in US stores?", "Baby formula", "When will it be back on shelves?",
         "When will it be back on shelves? (Baby formula)"),
        # A name ending in a number is a name; a possessive after the name was said stays "its".
        ("NASA will launch a mission around the moon. What is the mission called?", "Artemis 1", "When will it launch?",
         "When will Artemis 1 launch?"),
        ("Which company split its stock 20-for-1?", "Google", "When did it last split its stock?",
         "When did Google last split its stock?"),
        # "the second one" from the list the last question named, when its answer listed nothing.
        ("Which weather swept through countries including the UK, Spain, and France?", "Heat waves",
         "How hot did it get in the second one?", "How hot did it get in Spain?"),
        # A show named in quotes is not the "she"; "The IRS" inside a question is "the IRS".
        ("We lost “Star Trek” actress Nichelle Nichols. Which role did she play?", "Lt. Nyota Uhura",
         "When did she first play the role?", "When did Nichelle Nichols first play the role?"),
        ("The IRS announced it will do what this week?", "Finish processing the backlog",
         "How many returns does it still have to process?", "How many returns does the IRS still have to process?"),
    ],
)  # fmt: skip
def test_no_confident_referent_is_carried_not_guessed(previous, short, follow_up, expected):
    assert condense(follow_up, [Turn(previous, previous, short, (), short)]) == expected


@pytest.mark.parametrize(
    ("previous", "answer", "follow_up", "expected"),
    [
        # No bold answer: "it" is the airline the question asked for, the first the answer's sentence names that the
        # question did not; never a name taken for a person ("Spirit Airlines") nor "America" ("How much will
        # America pay?").
        ("Which airline announced a deal to buy Spirit Airlines?",
         "JetBlue Airways announced it would purchase Spirit Airlines, creating America’s fifth-largest airline.",
         "How much will it pay?", "How much will JetBlue Airways pay?"),
        ("Which airline announced a deal to buy Spirit Airlines?", "", "How much will it pay?",
         "How much will it pay? (Spirit Airlines)"),
        # "he" is the person the question named when it did not ask for a person, not one of the answer's sentence.
        ("Far-right pundit Alex Jones was in court this week. Which topic is at the center of the lawsuits?",
         "A lawyer showed Jones had lied when he claimed he never texted about the Sandy Hook shooting.",
         "How much was he ordered to pay?", "How much was Alex Jones ordered to pay?"),
        # The question's own unnamed "he" (the governor): the answer's people are others; both turns are searched.
        ("The governor of Texas sends buses of migrants north. Which city did he add?",
         "New York Mayor Eric Adams said more buses sent by Texas Gov. Greg Abbott arrived.",
         "How many buses has he sent?", None),
        # "he" is never a place or a body ("What did United States say…?"); "it" is a thing the question named.
        ("What is the biggest threat, according to Fiji’s defence minister?",
         "The minister spoke at a summit dominated by disputes between China and the United States.",
         "What did he say about China?", None),
        ("How much loan forgiveness will some borrowers get?",
         "Borrowers who received a Pell grant will have up to $20,000 forgiven.", "Who qualifies for it?", None),
        # A switch replaces a whole name, once: not "According to the FDA House", "the the FDA" or "the WHO announced".
        ("According to the White House, how soon could vaccines be ready for young children?", "",
         "What about the FDA?", "According to the FDA, how soon could vaccines be ready for young children?"),
        ("The CDC activated an emergency center to respond to which outbreak?", "", "What about the WHO?",
         "The WHO activated an emergency center to respond to which outbreak?"),
        # A new subject the question already named cannot take another name's place: both turns.
        ("Why were some Kia and Hyundai SUVs recalled?", "", "And Hyundai's sedans?", None),
    ],
)  # fmt: skip
def test_a_follow_up_never_takes_a_wrong_name(previous, answer, follow_up, expected):
    got = condense(follow_up, [Turn(previous, previous, answer, (answer,) if answer else ())])
    assert got == (f"{follow_up} {previous}" if expected is None else expected)


@pytest.mark.parametrize(
    ("name", "person"),
    [
        ("United States", False),
        ("Spirit Airlines", False),
        ("Guinness World Records", False),
        ("White House", False),
        ("Texas Gov. Greg Abbott", True),
        ("New York Mayor Eric Adams", True),
        ("Jose Mourinho", True),
    ],
)
def test_places_and_bodies_are_not_people(name: str, person: bool) -> None:
    from assistant.answer.names import is_person, names_in

    assert is_person(name) is person
    assert names_in("Buses were sent by Texas Gov. Greg Abbott. Then") == ["Texas Gov. Greg Abbott"]
