"""The NitroGen policy: configuration, network, processing and the user-facing policy class."""

from nitrogen_policies.nitrogen.configuration_nitrogen import PRESETS, NitroGenConfig, config_from_preset
from nitrogen_policies.nitrogen.policy_nitrogen import NitroGenPolicy

__all__ = ["PRESETS", "NitroGenConfig", "NitroGenPolicy", "config_from_preset"]
