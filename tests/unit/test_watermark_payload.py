import pytest

from detectors.watermark.payload import GENERATORS, Payload, generator_id


@pytest.mark.parametrize(("gen", "version"), [(0, 0), (1, 2), (4095, 15), (1234, 7)])
def test_payload_survives_the_trip_through_bits(gen: int, version: int) -> None:
    payload = Payload(gen, version)
    assert len(payload.bits) == 16
    assert Payload.from_bits(payload.bits) == payload


def test_bits_are_most_significant_first() -> None:
    assert Payload(generator_id=1, model_version=0).bits == [0] * 11 + [1] + [0] * 4
    assert Payload(generator_id=0, model_version=1).bits == [0] * 15 + [1]


def test_registered_generators_decode_to_their_names_and_others_say_unregistered() -> None:
    assert Payload(1).generator_name == GENERATORS[1]
    assert Payload(999).generator_name == "unregistered-999"
    assert Payload(1).registered and not Payload(999).registered


@pytest.mark.parametrize(("gen", "version"), [(4096, 0), (-1, 0), (1, 16)])
def test_out_of_range_payloads_are_refused(gen: int, version: int) -> None:
    with pytest.raises(ValueError):
        Payload(gen, version)


def test_generator_named_or_numbered() -> None:
    assert generator_id("clearance-remix") == 1
    assert generator_id("42") == 42
    with pytest.raises(ValueError, match="registered"):
        generator_id("no-such-generator")
