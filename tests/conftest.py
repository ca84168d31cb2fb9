"""Shared fixtures: real features on Fashion-MNIST, and tiny random-weight model folders.

``fashion_features``: EfficientNet-Lite0 (shipped weights) features of a Fashion-MNIST subset.

Tiny random-weight model folders for the Multi-SC model backends:

Each fixture writes, once per test session, a model folder in exactly the layout its backend reads
(``save_pretrained`` of transformers/diffusers, a torchvision state dict), with configs small enough
that loading and generating take well under a second on CPU. Tokenizers are made offline with the
``tokenizers`` library (a byte-level BPE trained on a few sentences) or from tiny vocabularies.
The backends under test then load them through their registry spec strings, so the real loading
and generation code runs.
"""

from __future__ import annotations

import os
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

FASHION_ROOT = "/usr/share/datasets/fashion-mnist"

# Runs in the tests train their tiny codecs in the test process (a worker process costs ~10 s to start,
# more than the training); tests/sim/test_training_pool.py trains side by side in workers on purpose.
os.environ.setdefault("SEMLINK_TRAINING_WORKERS", "1")

# Under pytest-xdist (the README's `-n auto`) the workers share the machine's cores: each runs torch on its
# share of them (two 2-thread workers on two cores would wait on each other at every op).
_XDIST_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _XDIST_WORKERS > 1:
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // _XDIST_WORKERS))


@pytest.fixture(scope="session")
def fashion_features(tmp_path_factory):
    """``dict`` of L2-normalised 1280-d features: 150 train and 100 test images per class."""
    import os

    if not os.path.isdir(FASHION_ROOT):
        pytest.skip("Debian's dataset-fashion-mnist is not installed (scripts/setup.sh installs it)")
    from semlink.data import load_dataset, subset_per_class
    from semlink.tx import create_encoder, extract_features

    cache = tmp_path_factory.mktemp("feature-cache")
    train = load_dataset("fashion-mnist", split="train")
    test = load_dataset("fashion-mnist", split="test")
    train = train.subset(subset_per_class(train.labels, 150, seed=0))
    test = test.subset(subset_per_class(test.labels, 100, seed=None))
    encoder = create_encoder("efficientnet-lite0", image_size=64)
    return {
        "train": extract_features(encoder, train, cache_dir=cache),
        "train_labels": torch.as_tensor(train.labels),
        "test": extract_features(encoder, test, cache_dir=cache),
        "test_labels": torch.as_tensor(test.labels),
        "encoder": encoder.name,
    }


CORPUS = [
    "a photo of a tabby cat, a tiger cat or an Egyptian cat",
    "Relay a brief, clear account of the picture shown.",
    "a dog sitting on a mat next to a red ball",
    "an astronaut in a white suit holding a flag",
]


@pytest.fixture
def single_thread() -> Iterator[None]:
    """Run torch on one thread for the test (on a shared, oversubscribed 2-core machine two threads
    wait on each other and run small models several times slower); restores the setting after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _byte_bpe(special_tokens: list[str], vocab_size: int = 320):
    """A byte-level BPE ``tokenizers.Tokenizer`` trained on :data:`CORPUS`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS, trainer)
    return tok


@pytest.fixture(scope="session")
def tiny_llava_dir(tmp_path_factory) -> Path:
    """LLaVA: 2-layer CLIP vision tower (32 px, 8 px patches) + 2-layer Qwen2 language model."""
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
        Qwen2Config,
    )

    folder = tmp_path_factory.mktemp("tiny-llava")
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_byte_bpe(["<pad>", "<eos>", "<image>"]),
        pad_token="<pad>",
        eos_token="<eos>",
        extra_special_tokens={"image_token": "<image>"},
    )
    template = (
        "{% for m in messages %}<|{{ m['role'] }}|>{% for c in m['content'] %}"
        "{% if c['type'] == 'image' %}<image>{% else %}{{ c['text'] }}{% endif %}{% endfor %}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=tokenizer,
        patch_size=8,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=template,
    )
    vision = CLIPVisionConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
    )
    text = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=128,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    torch.manual_seed(0)
    LlavaForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_blip_dir(tmp_path_factory) -> Path:
    """BLIP captioning: 1-layer ViT (32 px) + 1-layer BERT decoder over a 16-word vocabulary."""
    from transformers import (
        BertTokenizerFast,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
        BlipTextConfig,
        BlipVisionConfig,
    )

    folder = tmp_path_factory.mktemp("tiny-blip")
    words = [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        "[DEC]",
        *"a photo of cat dog on mat the tabby sitting".split(),
    ]
    tokenizer = BertTokenizerFast(
        vocab={w: i for i, w in enumerate(words)}, do_lower_case=True, bos_token="[DEC]"
    )
    processor = BlipProcessor(
        image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tokenizer
    )
    text = BlipTextConfig(
        vocab_size=len(words),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        encoder_hidden_size=16,
        max_position_embeddings=64,
        bos_token_id=words.index("[DEC]"),
        pad_token_id=0,
        sep_token_id=words.index("[SEP]"),
        eos_token_id=words.index("[SEP]"),
    )
    vision = BlipVisionConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
    )
    torch.manual_seed(0)
    model = BlipForConditionalGeneration(
        BlipConfig(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=16)
    )
    # Make [SEP] (end of text) improbable so generation emits words, not an empty caption.
    with torch.no_grad():
        model.text_decoder.cls.predictions.bias[words.index("[SEP]")] = -20.0
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bart_dir(tmp_path_factory) -> Path:
    """BART: 1 encoder + 1 decoder layer, d_model 16, byte-level BPE tokenizer."""
    from tokenizers import processors
    from transformers import BartConfig, BartForConditionalGeneration, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bart")
    bpe = _byte_bpe(["<s>", "<pad>", "</s>", "<unk>"])
    bpe.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<s>", pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    config = BartConfig(
        vocab_size=len(tokenizer),
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_position_embeddings=128,
        bos_token_id=0,
        pad_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=2,
        forced_bos_token_id=0,
    )
    torch.manual_seed(0)
    BartForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_sd_dir(tmp_path_factory) -> Path:
    """Stable Diffusion (2-block UNet, 2-block VAE, 1-layer CLIP text encoder, 16 px) + IP-Adapter files."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTokenizer,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )

    folder = tmp_path_factory.mktemp("tiny-sd")
    torch.manual_seed(0)
    chars = list(string.ascii_lowercase + string.digits + ".,!?'")
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):
        for c in chars:
            vocab[c + suffix] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=16)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(vocab), hidden_size=32, intermediate_size=37, num_hidden_layers=1, num_attention_heads=2,
            max_position_embeddings=16, projection_dim=32, bos_token_id=0, eos_token_id=1, pad_token_id=1,
        )
    )  # fmt: skip
    cross_dim, channels = 32, (32, 64)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=channels, layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=cross_dim, attention_head_dim=8, norm_num_groups=32,
    )  # fmt: skip
    vae = AutoencoderKL(
        block_out_channels=list(channels), in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=32,
        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
    )  # fmt: skip
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, image_encoder=None, requires_safety_checker=False,
    ).save_pretrained(folder)  # fmt: skip

    # IP-Adapter: a CLIP image encoder with projection, and the image-projection + per-cross-attention
    # key/value weights in the file layout diffusers' load_ip_adapter reads.
    embed_dim = 24
    CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=32,
            patch_size=8, projection_dim=embed_dim,
        )
    ).save_pretrained(folder / "ip_adapter" / "image_encoder")  # fmt: skip
    state = {
        "image_proj.proj.weight": torch.randn(4 * cross_dim, embed_dim) * 0.02,
        "image_proj.proj.bias": torch.zeros(4 * cross_dim),
        "image_proj.norm.weight": torch.ones(cross_dim),
        "image_proj.norm.bias": torch.zeros(cross_dim),
    }
    key_id = 1
    for name in unet.attn_processors:  # same order and numbering as diffusers (cross-attention: 1, 3, 5, ...)
        if name.endswith("attn1.processor"):
            continue
        block = int(name.split(".")[1]) if not name.startswith("mid_block") else None
        if name.startswith("mid_block"):
            hidden = channels[-1]
        elif name.startswith("up_blocks"):
            hidden = list(reversed(channels))[block]
        else:
            hidden = channels[block]
        state[f"ip_adapter.{key_id}.to_k_ip.weight"] = torch.randn(hidden, cross_dim) * 0.02
        state[f"ip_adapter.{key_id}.to_v_ip.weight"] = torch.randn(hidden, cross_dim) * 0.02
        key_id += 2
    save_file(state, str(folder / "ip_adapter" / "ip-adapter_sd15.safetensors"))
    return folder


@pytest.fixture(scope="session")
def tiny_fcn_file(tmp_path_factory) -> Path:
    """A random torchvision FCN-ResNet50 (21 classes, with the auxiliary head) state dict, as a .pth file.

    FCN-ResNet50 has no size knob, so this is the real architecture (~35 M parameters, ~140 MB).
    """
    from torchvision.models.segmentation import fcn_resnet50

    path = tmp_path_factory.mktemp("tiny-fcn") / "fcn_resnet50_random.pth"
    with torch.device("meta"):  # shapes only; the random values are drawn below (faster than the init)
        model = fcn_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
    generator = torch.Generator().manual_seed(0)
    state = {}
    for key, tensor in model.state_dict().items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.zeros((), dtype=torch.int64)
        elif key.endswith("running_var"):
            state[key] = torch.ones(tensor.shape)
        elif key.endswith("running_mean") or key.endswith(".bias"):
            state[key] = torch.zeros(tensor.shape)
        else:
            state[key] = torch.randn(tensor.shape, generator=generator) * 0.02
    torch.save(state, path)
    return path
