from twisted.application.service import ServiceMaker

annexrelay = ServiceMaker(
    "annexrelay",
    "annexrelay.tap",
    "A git-annex P2P relay: proxy for remotes and gateway for clusters.",
    "annexrelay",
)
