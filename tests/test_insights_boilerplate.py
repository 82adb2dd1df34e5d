"""Names and boilerplate are learned from the texts being clustered, then discounted."""

from kb.insights import clustering, features

FAILURES = [
    "expired certificate",
    "exhausted connection pool",
    "bad regex pushed",
    "full disk",
]
VENDORS = ["Zorbla", "Quenix", "Hobbleton"]
# Each vendor's house style: template sentences every one of its write-ups carries.
STYLE = {
    "Zorbla": "Zorbla engineers identified a recent stage, engineers confirmed mitigation "
    "workstream and Zorbla engineers monitored telemetry",
    "Quenix": "Quenix definitive analysis followed the standard review; Quenix preliminary "
    "findings went through the Quenix governance board",
    "Hobbleton": "Hobbleton performed the normal retrospective procedure, Hobbleton "
    "stakeholders signed the Hobbleton escalation paperwork",
}


def _corpus():
    """Every failure written up by every vendor: the truth is the failure, not the vendor."""
    texts, contexts, truth = [], [], []
    for copy in range(3):
        for f, failure in enumerate(FAILURES):
            for vendor in VENDORS:
                texts.append(f"In the {vendor} cloud, {STYLE[vendor]}: {failure} ({copy}).")
                contexts.append(f"Report {copy}. Then {STYLE[vendor]}. Also {failure}.")
                truth.append(f)
    return texts, contexts, truth


def test_names_are_learned_from_how_words_are_cased():
    shares = features.name_shares(
        [
            "We saw the Zorbla portal fail. Then the Zorbla API and the portal recovered.",
            "Routing in Zorbla went wrong; the portal was slow.",
            "DNS lookups failed and the DDoS mitigation held. Certificates expired.",
        ]
    )
    assert shares[features.stem("zorbla")] == 1.0
    assert features.stem("portal") not in shares  # never written as a name
    # Acronyms and words opening a sentence say nothing either way.
    assert "dns" not in shares and "ddos" not in shares and "certif" not in shares


def test_a_headline_in_title_case_is_not_read_as_names():
    shares = features.name_shares(["Database Failover Took The Site Down For An Hour. ok"])
    assert shares == {}


def test_vendors_and_house_style_are_discounted_and_failures_kept():
    texts, contexts, _truth = _corpus()
    discounts = clustering.discounted_terms(texts, contexts)
    stem = features.stem
    for vendor in VENDORS:
        assert discounts[stem(vendor.lower())] < 0.5, vendor
    for template in ("engin", "definit", "retrospect"):  # one vendor's style each
        assert discounts.get(template, 1.0) < 0.5, template
    for kept in ("certif", "pool", "regex", "disk"):
        assert kept not in discounts, kept


def test_discounting_makes_themes_follow_the_failure_not_the_vendor():
    from sklearn.metrics import adjusted_rand_score

    texts, contexts, truth = _corpus()
    plain = clustering.cluster(texts, contexts, k=4, discount=False)
    discounted = clustering.cluster(texts, contexts, k=4)
    assert discounted.discounts and not plain.discounts
    vendor = [i % len(VENDORS) for i in range(len(texts))]
    # Without discounting, the vendor explains the themes better than the failure does.
    assert adjusted_rand_score(vendor, plain.labels) > adjusted_rand_score(truth, plain.labels)
    assert adjusted_rand_score(truth, discounted.labels) > 0.9
    shown = {term for terms in discounted.terms for term in terms}
    assert not shown & {v.lower() for v in VENDORS}


def test_small_corpora_are_not_discounted():
    result = clustering.cluster(FAILURES, k=2)
    assert result.discounts == {}
    assert "discounted" not in result.method
