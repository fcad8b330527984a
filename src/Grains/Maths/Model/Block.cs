using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace InsideLLMs.Distributed.Maths.Model;

/// <summary>A pre-LayerNorm transformer block: x + attn(ln1(x)), then + mlp(ln2(x)).</summary>
public sealed class Block : Module<Tensor, Tensor>
{
    private readonly LayerNorm ln_1;
    private readonly CausalSelfAttention attn;
    private readonly LayerNorm ln_2;
    private readonly Mlp mlp;
    private readonly int _layer;

    public Block(GptConfig config, int layer) : base(nameof(Block))
    {
        _layer = layer;
        ln_1 = LayerNorm(config.EmbeddingSize, elementwise_affine: true, bias: config.Bias);
        attn = new CausalSelfAttention(config);
        ln_2 = LayerNorm(config.EmbeddingSize, elementwise_affine: true, bias: config.Bias);
        mlp = new Mlp(config);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => Forward(x, probe: null, cache: null);

    public Tensor Forward(Tensor x, AttentionProbe? probe, KvCache? cache = null)
    {
        x = x.Plus(attn.Forward(ln_1.call(x), _layer, probe, cache)); // (B, T, C): x + attn(ln1(x))
        x = x.Plus(mlp.call(ln_2.call(x))); // (B, T, C): x + mlp(ln2(x))
        if (probe is not null && probe.Wants(_layer))
        {
            probe.RecordOutput(_layer, x);
        }

        return x;
    }
}
