using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace InsideLLMs.Distributed.Maths.Model;

/// <summary>Multi-head causal self-attention: every token mixes in the values of itself and the tokens before it.</summary>
public sealed class CausalSelfAttention : Module<Tensor, Tensor>
{
    private readonly Linear c_attn; // x -> q, k, v for all heads at once
    private readonly Linear c_proj;
    private readonly Dropout attn_dropout;
    private readonly Dropout resid_dropout;
    private readonly int _heads;
    private readonly int _width;
    private readonly double _dropout;

    public CausalSelfAttention(GptConfig config) : base(nameof(CausalSelfAttention))
    {
        _heads = config.HeadCount;
        _width = config.EmbeddingSize;
        _dropout = config.Dropout;
        c_attn = Linear(_width, 3 * _width, hasBias: config.Bias);
        c_proj = Linear(_width, _width, hasBias: config.Bias);
        attn_dropout = Dropout(config.Dropout);
        resid_dropout = Dropout(config.Dropout);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => Forward(x, layer: -1, probe: null, cache: null);

    /// <param name="x">(B, T, C), already layer-normed.</param>
    /// <param name="layer">Global block index, for the probe.</param>
    /// <param name="probe">When given and it wants this layer, the explicit path runs and records q, k, v and weights.</param>
    /// <param name="cache">Keys and values of earlier positions: the new tokens attend to them and are appended.</param>
    public Tensor Forward(Tensor x, int layer, AttentionProbe? probe, KvCache? cache)
    {
        var (batch, time, width) = (x.shape[0], x.shape[1], x.shape[2]);
        var headSize = width / _heads;
        var qkv = c_attn.call(x).split(_width, dim: 2); // 3 x (B, T, C)
        var q = qkv[0].view(batch, time, _heads, headSize).transpose(1, 2); // (B, nh, T, hs)
        var k = qkv[1].view(batch, time, _heads, headSize).transpose(1, 2); // (B, nh, T, hs)
        var v = qkv[2].view(batch, time, _heads, headSize).transpose(1, 2); // (B, nh, T, hs)
        var past = cache?.Length ?? 0; // positions before these tokens
        if (cache is not null)
        {
            (k, v) = cache.Append(layer, k, v); // (B, nh, L + T, hs)
        }

        // Query i sits at position past + i and may see keys 0 .. past + i: mask the keys beyond that.
        var keys = past + time;
        Tensor y;
        if (probe is not null && probe.Wants(layer))
        {
            using var scale = (1.0 / Math.Sqrt(headSize)).ToScalar();
            var scores = q.matmul(k.transpose(-2, -1)).mul(scale); // (B, nh, T, L + T)
            using var future = ones(time, keys, dtype: ScalarType.Bool).triu(past + 1); // (T, L + T): true where j > past + i
            var weights = functional.softmax(scores.masked_fill(future, Scalars.NegativeInfinity), dim: -1); // (B, nh, T, L + T)
            probe.RecordAttention(layer, x, q, k, v, weights);
            y = attn_dropout.call(weights).matmul(v); // (B, nh, T, hs)
            probe.RecordHeadOutputs(layer, y);
        }
        else if (past == 0 || time == 1)
        {
            // The fused kernel never materialises the weights. One new token may see every cached key: no mask at all.
            y = functional.scaled_dot_product_attention(q, k, v, is_casual: past == 0, p: training ? _dropout : 0.0); // (B, nh, T, hs)
        }
        else
        {
            using var allowed = ones(time, keys, dtype: ScalarType.Bool).triu(past + 1).logical_not(); // (T, L + T)
            y = functional.scaled_dot_product_attention(q, k, v, attn_mask: allowed, p: training ? _dropout : 0.0); // (B, nh, T, hs)
        }

        y = y.transpose(1, 2).contiguous().view(batch, time, width); // (B, T, C): heads side by side again
        return resid_dropout.call(c_proj.call(y));
    }
}
