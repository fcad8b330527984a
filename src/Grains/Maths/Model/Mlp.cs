using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace InsideLLMs.Distributed.Maths.Model;

/// <summary>The position-wise feed-forward network: widen 4x, GELU, project back.</summary>
public sealed class Mlp : Module<Tensor, Tensor>
{
    private readonly Linear c_fc;
    private readonly GELU gelu;
    private readonly Linear c_proj;
    private readonly Dropout dropout;

    public Mlp(GptConfig config) : base(nameof(Mlp))
    {
        c_fc = Linear(config.EmbeddingSize, 4 * config.EmbeddingSize, hasBias: config.Bias);
        gelu = GELU();
        c_proj = Linear(4 * config.EmbeddingSize, config.EmbeddingSize, hasBias: config.Bias);
        dropout = Dropout(config.Dropout);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => dropout.call(c_proj.call(gelu.call(c_fc.call(x)))); // (B, T, C)
}
