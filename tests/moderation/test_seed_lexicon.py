"""The shipped seed lexicon: well-formed, no political rows, and quiet on ordinary sentences."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import pytest

from hegui.taxonomy import load_taxonomy

SEED = resources.files("hegui.data").joinpath("lexicons").joinpath("seed")
HEADER = ["term", "risk", "severity", "variants", "exceptions", "tags"]


@dataclass
class Row:
    file: str
    line: int
    term: str
    risk: str
    severity: int
    variants: list[str]
    exceptions: list[str]
    tags: list[str]


def read_seed() -> list[Row]:
    """A tiny reader of the fixed TSV format, independent of hegui.moderation.lexicon."""
    rows: list[Row] = []
    for item in sorted(SEED.iterdir(), key=lambda t: t.name):
        if not item.name.endswith(".tsv"):
            continue
        header_seen = False
        for n, line in enumerate(item.read_text("utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            cells = line.split("\t")
            if not header_seen:
                assert cells == HEADER, f"{item.name}:{n}: header {cells}"
                header_seen = True
                continue
            assert len(cells) == 6, f"{item.name}:{n}: {len(cells)} columns"
            term, risk, sev, var, exc, tags = cells
            split = lambda s: [x for x in s.split("|") if x]  # noqa: E731
            rows.append(Row(item.name, n, term, risk, int(sev), split(var), split(exc), split(tags)))
        assert header_seen, f"{item.name}: no header"
    return rows


ROWS = read_seed()

# Ordinary sentences a chat service sees every day, several of them close to the seed's topics
# (history, medicine, news about crime, everyday idioms, the exceptions we list). No seed term may
# occur in them, except inside one of its listed exceptions.
BENIGN = [
    "这件事真是个大麻烦，我们明天再讨论吧。",
    "早餐吃了一根大麻花和一碗豆浆。",
    "超市里有卖大麻籽油，据说可以用来炒菜。",
    "工业大麻纤维可以用来做环保布料。",
    "鸦片战争是中国近代史的开端。",
    "今天的露点温度很高，空气很潮湿。",
    "他在比赛中吃了个哑巴亏，只能认了。",
    "盲人摸象和瞎子摸象说的是同一个道理。",
    "二胡名曲《二泉映月》的作者是瞎子阿炳。",
    "她是全国女拳击冠军，也是这届的女拳王。",
    "残废军人抚恤优待条例已经修订。",
    "智障人士的就业需要全社会的支持。",
    "弱智儿童的特殊教育学校正在招聘老师。",
    "印度的贱民制度在法律上已经被废除。",
    "今年冬天我们去东北滑雪，顺便看了冰雕。",
    "这个女司机开车很稳，从来没出过事故。",
    "老人家身体硬朗，每天早上都去公园打太极。",
    "农民工朋友们为城市建设做出了巨大贡献。",
    "外卖小哥冒雨送餐，真是辛苦了。",
    "快递员把包裹放在了门口的快递柜里。",
    "我们公司招聘不限性别、不限年龄，欢迎投递简历。",
    "医生说糖尿病需要长期控制饮食和规律用药。",
    "接种疫苗是预防传染病最有效的手段之一。",
    "化疗会有副作用，具体方案请遵医嘱。",
    "地震局提醒大家学习防震减灾知识。",
    "网络安全课上老师讲了如何识别诈骗短信。",
    "警方提醒：公检法机关不会通过电话要求转账。",
    "银行卡丢了要第一时间挂失。",
    "请把你的快递单号发给我，我帮你查一下物流。",
    "小说里的主人公最后选择了原谅敌人。",
    "这部电影讲的是二战时期的一段历史。",
    "他在游戏里打怪升级，玩得不亦乐乎。",
    "孩子考试没考好，妈妈安慰他下次努力。",
    "心理咨询师建议她多和朋友聊天、多运动。",
    "如果你感到压力很大，可以拨打心理援助热线。",
    "化学课上老师讲了火药的发明历史。",
    "烟花爆竹燃放要注意安全，远离易燃物。",
    "周末我们去山里采蘑菇，但一定要认清哪些有毒。",
    "猫咪生病了要带去宠物医院看兽医。",
    "这家店的奶茶很好喝，价格也不贵。",
    "他的手机开了定位，方便家人找到他。",
    "我把家里的地址发给快递员了。",
    "搜索引擎可以帮你找到很多资料。",
    "酒店前台说退房时间是中午十二点。",
    "股票投资有风险，入市需谨慎。",
    "这款软件有免费版和专业版两种。",
    "老师说作文要写真情实感，不要套模板。",
    "少数民族的传统服饰色彩非常丰富。",
    "宗教信仰自由受到宪法保护。",
    "每个国家都有自己独特的文化和历史。",
    "河南是中华文明的重要发源地之一。",
    "上海人说话很有特点，上海菜偏甜。",
    "新疆的葡萄干和哈密瓜非常有名。",
    "同性恋已经不再被视为精神疾病。",
    "老年人要注意防范保健品骗局。",
    "穷人家的孩子早当家。",
    "单亲家庭的孩子同样可以很优秀。",
]

CODES = set(load_taxonomy().codes)


def test_seed_has_a_few_hundred_terms_in_every_file() -> None:
    files = {r.file for r in ROWS}
    assert len(files) >= 12
    assert len(ROWS) >= 280
    for f in files:
        assert sum(r.file == f for r in ROWS) >= 8, f


def test_codes_severities_and_no_political_rows() -> None:
    for r in ROWS:
        where = f"{r.file}:{r.line}"
        assert r.risk in CODES, f"{where}: unknown code {r.risk}"
        assert r.risk not in {"A1.a", "A1.b", "A1.c"}, f"{where}: political terms are not shipped"
        assert 1 <= r.severity <= 3, where
        assert r.term == r.term.strip() and r.term, where
        assert r.tags, f"{where}: untagged"


def test_every_a2_attribute_and_each_harm_is_covered() -> None:
    risks = {r.risk for r in ROWS}
    for code in ["A2.a", "A2.b", "A2.c", "A2.d", "A2.e", "A2.f", "A2.g", "A2.h", "A2.i"]:
        assert code in risks, code
    for code in ["A1.d", "A1.e", "A1.f", "A1.g", "A1.h", "A4.a", "A4.e"]:
        assert code in risks, code


def test_no_duplicate_terms_or_variants() -> None:
    seen: dict[str, str] = {}
    for r in ROWS:
        for t in [r.term, *r.variants]:
            key = t.lower()
            assert key not in seen, f"{r.file}:{r.line}: {t!r} already at {seen[key]}"
            seen[key] = f"{r.file}:{r.line}"


def test_exceptions_contain_their_term() -> None:
    for r in ROWS:
        for ex in r.exceptions:
            assert any(t.lower() in ex.lower() for t in [r.term, *r.variants]), f"{r.file}:{r.line}: {ex}"
            assert ex != r.term


def test_terms_are_specific() -> None:
    # single characters (and two Latin letters) fire on everything; the seed has none
    for r in ROWS:
        for t in [r.term, *r.variants]:
            assert len(t) >= 2, f"{r.file}:{r.line}: {t!r} too short"
            if t.isascii():
                assert len(t) >= 2 and not t.isdigit(), t


def _hits(sentence: str, row: Row) -> list[str]:
    """Occurrences of the row's term/variants in ``sentence`` not covered by one of its exceptions."""
    s = sentence.lower()
    found = []
    for t in [row.term, *row.variants]:
        t = t.lower()
        start = s.find(t)
        while start >= 0:
            covered = False
            for ex in row.exceptions:
                ex = ex.lower()
                off = ex.find(t)
                while off >= 0 and not covered:
                    covered = s[start - off : start - off + len(ex)] == ex
                    off = ex.find(t, off + 1)
            if not covered:
                found.append(t)
            start = s.find(t, start + 1)
    return found


@pytest.mark.parametrize("sentence", BENIGN)
def test_no_term_in_benign_sentences(sentence: str) -> None:
    bad = [(r.term, h) for r in ROWS for h in _hits(sentence, r)]
    assert not bad, f"{sentence!r} contains {bad}"


def test_exceptions_are_exercised_by_the_benign_list() -> None:
    # the benign list must actually contain those exception words, or the test above proves nothing
    text = "".join(BENIGN)
    used = [ex for r in ROWS for ex in r.exceptions if ex in text]
    assert len(used) >= 10


def test_reader_agrees_with_the_project_loader() -> None:
    lexicon = pytest.importorskip("hegui.moderation.lexicon")
    loaded = lexicon.Lexicon.builtin_seed()
    assert sorted(e.term for e in loaded.entries) == sorted(r.term for r in ROWS)
    by_term = {e.term: e for e in loaded.entries}
    for r in ROWS:
        e = by_term[r.term]
        assert (e.risk, e.severity, list(e.variants), list(e.exceptions)) == (
            r.risk,
            r.severity,
            r.variants,
            r.exceptions,
        )


def test_detector_is_quiet_on_benign_sentences_and_fires_on_terms() -> None:
    lexicon = pytest.importorskip("hegui.moderation.lexicon")
    from hegui.text import normalize

    det = lexicon.LexiconDetector(lexicon.Lexicon.builtin_seed())
    noisy = {s: [(f.rule, f.variant, f.matched) for f in det.scan(normalize(s))] for s in BENIGN}
    noisy = {s: f for s, f in noisy.items() if f}
    assert not noisy, noisy
    missed = [
        r.term for r in ROWS if not any(f.rule == r.term for f in det.scan(normalize(f"他说：{r.term}。")))
    ]
    assert not missed, missed
