"""AudioSeal watermarking: the payload layout, the loudness budget, embedding and detection."""

from audioseal.libs.moshi.utils import compile as _moshi_compile

# audioseal's SEANet wraps forward() in torch.compile, which on a CPU worker means a C compiler at
# run time, minutes of first-call compilation and recompiles; eager mode is what we measure and ship.
_moshi_compile._compile_disabled = True
