"""Address prefixes per network.

Testnet, testnet4 and signet share prefixes. Regtest differs between Bitcoin Core
(m…/n…, 2…, bcrt1) and bcoin (R…, G…, rb1); `regtest` accepts both because the
scriptPubKey they stand for is the same, while `regtest-core` and `regtest-bcoin` are
strict and encode in that node's style.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Network:
    name: str
    p2pkh: tuple[int, ...]  # base58 version bytes; the first is used for encoding
    p2sh: tuple[int, ...]
    hrps: tuple[str, ...]  # bech32 human-readable parts; the first is used for encoding


MAINNET = Network("mainnet", (0x00,), (0x05,), ("bc",))
TESTNET = Network("testnet", (0x6F,), (0xC4,), ("tb",))
SIGNET = Network("signet", (0x6F,), (0xC4,), ("tb",))
REGTEST = Network("regtest", (0x6F, 0x3C), (0xC4, 0x26), ("bcrt", "rb"))
REGTEST_CORE = Network("regtest-core", (0x6F,), (0xC4,), ("bcrt",))
REGTEST_BCOIN = Network("regtest-bcoin", (0x3C,), (0x26,), ("rb",))

NETWORKS: dict[str, Network] = {
    "mainnet": MAINNET,
    "main": MAINNET,
    "bitcoin": MAINNET,
    "testnet": TESTNET,
    "testnet3": TESTNET,
    "testnet4": TESTNET,
    "test": TESTNET,
    "signet": SIGNET,
    "regtest": REGTEST,
    "regtest-core": REGTEST_CORE,
    "regtest-bcoin": REGTEST_BCOIN,
}


def get_network(network: str | Network) -> Network:
    if isinstance(network, Network):
        return network
    try:
        return NETWORKS[network.lower()]
    except KeyError:
        raise ValueError(
            f"unknown network {network!r}; expected one of {', '.join(sorted(NETWORKS))}"
        ) from None
