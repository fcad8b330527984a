using InsideLLMs.Distributed.Maths.Model;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Maths.Inspection;

/// <summary>
/// Section 07 of the walkthrough for one token of one head: its input, its q, every earlier token's k and v, the raw
/// scores q.k, the scores scaled by 1/sqrt(d), which positions the causal mask hides, the softmax weights, and the
/// weighted sum of values. Computed in double from the recorded q, k, v, so each step can be checked by hand.
/// </summary>
/// <param name="Keys">k_j for every position j of the sequence (later ones are masked, shown for completeness).</param>
public sealed record QkvBreakdown(
    int Layer,
    int Head,
    int Token,
    int HeadSize,
    double Scale,
    float[] Input,
    float[] Query,
    float[][] Keys,
    float[][] Values,
    double[] RawScores,
    double[] ScaledScores,
    bool[] Masked,
    double[] Weights,
    double[] Output);

public static class AttentionInspector
{
    /// <exception cref="ArgumentException">The probe has no such layer, or the head or token is out of range.</exception>
    public static QkvBreakdown Qkv(AttentionProbe probe, int layer, int head, int token, int row = 0)
    {
        ArgumentNullException.ThrowIfNull(probe);
        if (!probe.Layers.TryGetValue(layer, out var capture) || capture.Query is null)
        {
            throw new ArgumentException($"Layer {layer} was not recorded; recorded layers: {string.Join(", ", probe.Layers.Keys.Order())}.");
        }

        var (heads, time, size) = ((int)capture.Query.shape[1], (int)capture.Query.shape[2], (int)capture.Query.shape[3]);
        var keyCount = (int)capture.Key!.shape[2];
        if ((uint)head >= (uint)heads)
        {
            throw new ArgumentException($"Layer {layer} has heads 0..{heads - 1}; got {head}.");
        }

        if ((uint)token >= (uint)time)
        {
            throw new ArgumentException($"The sequence has tokens 0..{time - 1}; got {token}.");
        }

        var past = keyCount - time; // cached positions before this sequence, if any
        var query = Row(capture.Query[row, head, token]);
        var keys = Enumerable.Range(0, keyCount).Select(j => Row(capture.Key[row, head, j])).ToArray();
        var values = Enumerable.Range(0, keyCount).Select(j => Row(capture.Value![row, head, j])).ToArray();
        var scale = 1.0 / Math.Sqrt(size);
        var raw = keys.Select(k => Dot(query, k)).ToArray();
        var scaled = raw.Select(r => r * scale).ToArray();
        var masked = Enumerable.Range(0, keyCount).Select(j => j > past + token).ToArray();
        var max = scaled.Where((_, j) => !masked[j]).Max();
        var exponentials = scaled.Select((s, j) => masked[j] ? 0.0 : Math.Exp(s - max)).ToArray();
        var total = exponentials.Sum();
        var weights = exponentials.Select(e => e / total).ToArray();
        var output = new double[size];
        for (var j = 0; j < keyCount; j++)
        {
            for (var d = 0; d < size; d++)
            {
                output[d] += weights[j] * values[j][d];
            }
        }

        return new QkvBreakdown(
            layer, head, token, size, scale, Row(capture.Input![row, token]), query, keys, values, raw, scaled, masked, weights, output);
    }

    private static float[] Row(Tensor t)
    {
        using var values = t.detach().to(ScalarType.Float32).contiguous();
        return values.data<float>().ToArray();
    }

    private static double Dot(float[] a, float[] b)
    {
        var sum = 0.0;
        for (var i = 0; i < a.Length; i++)
        {
            sum += (double)a[i] * b[i];
        }

        return sum;
    }
}
