from setuptools import find_packages, setup

setup(
    name="annexrelay",
    version="0.1.0",
    description="A git-annex P2P protocol relay: proxy for remotes and gateway for clusters",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    license="AGPL-3.0-or-later",
    packages=find_packages(exclude=["tests", "tests.*"]) + ["twisted.plugins"],
    package_data={"twisted": ["plugins/annexrelay_plugin.py"]},
    python_requires=">=3.9",
    install_requires=["twisted[tls]>=23.10", "txtorcon>=23.0", "zope.interface", "prometheus-client>=0.17"],
    entry_points={
        "console_scripts": [
            "annexrelay = annexrelay.__main__:main",
            "annexrelay-shell = annexrelay.frontdoor.ssh.shell:main",
        ]
    },
)
