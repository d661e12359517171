"""NVIDIA's released NitroGen model (``nvidia/NitroGen``'s ``ng.pt``), brought into our policy safely.

* :mod:`.unpickler` reads ``ng.pt`` with nothing in it executed;
* :mod:`.architecture` mirrors the released network under its parameter names (a ``nitrogen-official`` config);
* :mod:`.convert` maps the checkpoint onto it and writes ``config.json`` + ``model.safetensors``;
* :mod:`.schema` maps the release's 25-value actions to and from our gamepad schema;
* :mod:`.hub` resolves ``NitroGenPolicy.from_pretrained("nvidia/NitroGen")`` or a local ``ng.pt``.

Importing this package imports nothing heavy; torch comes with the submodules that need it.
"""
