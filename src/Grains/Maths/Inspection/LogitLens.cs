using InsideLLMs.Distributed.Maths.Model;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Maths.Inspection;

/// <summary>A token and the probability a distribution gives it.</summary>
public sealed record TokenProbability(int ModelId, double Probability);

/// <summary>What the model would predict if it stopped after <see cref="Layer"/> (−1: straight from the embedding).</summary>
public sealed record LensLayer(int Layer, IReadOnlyList<TokenProbability> Top);

/// <summary>
/// The logit lens (nostalgebraist, 2020): the final LayerNorm and the head applied to the residual stream after each
/// block show how the prediction forms layer by layer; the last layer's row is the model's actual prediction.
/// </summary>
public static class LogitLens
{
    /// <param name="model">A stage with the head (the whole model, or a last stage that ran every layer).</param>
    /// <param name="probe">A probe filled by a forward pass of every layer.</param>
    public static IReadOnlyList<LensLayer> Read(GptStage model, AttentionProbe probe, int position, int top, int row = 0)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(probe);
        ArgumentOutOfRangeException.ThrowIfLessThan(top, 1);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var lens = new List<LensLayer>();
        foreach (var (layer, capture) in probe.Layers.OrderBy(l => l.Key))
        {
            var residual = capture.Output ?? throw new ArgumentException($"Layer {layer}'s output was not recorded.");
            if ((uint)position >= (uint)residual.shape[1])
            {
                throw new ArgumentException($"The sequence has positions 0..{residual.shape[1] - 1}; got {position}.");
            }

            var logits = model.Head(residual[row, position].view(1, 1, -1))[0, 0]; // (V)
            lens.Add(new LensLayer(layer, Top(logits, top)));
        }

        return lens;
    }

    /// <summary>The <paramref name="count"/> most likely tokens of softmax(logits), most likely first.</summary>
    public static IReadOnlyList<TokenProbability> Top(Tensor logits, int count)
    {
        using var scope = NewDisposeScope();
        var probabilities = nn.functional.softmax(logits.to(ScalarType.Float64), dim: -1);
        var (values, indices) = probabilities.topk(Math.Min(count, (int)logits.shape[^1]));
        var p = values.data<double>().ToArray();
        var ids = indices.data<long>().ToArray();
        return [.. ids.Select((id, i) => new TokenProbability((int)id, p[i]))];
    }
}
