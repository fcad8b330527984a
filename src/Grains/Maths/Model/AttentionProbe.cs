using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Maths.Model;

/// <summary>
/// What one forward pass hands back when asked: per layer, the attention weights of every head and each token's
/// q, k and v, and the residual stream after the block (for the logit lens). Tensors are detached copies that the
/// probe owns; dispose the probe to free them. When no probe is passed, none of this is computed or kept.
/// </summary>
public sealed class AttentionProbe : IDisposable
{
    private readonly HashSet<int>? _layers;
    private readonly Dictionary<int, LayerCapture> _captures = [];

    /// <param name="layers">Global block indices to record; null records every layer the forward pass runs.</param>
    public AttentionProbe(IEnumerable<int>? layers = null)
    {
        _layers = layers is null ? null : [.. layers];
    }

    public IReadOnlyDictionary<int, LayerCapture> Layers => _captures;

    internal bool Wants(int layer) => _layers is null || _layers.Contains(layer);

    internal void RecordAttention(int layer, Tensor input, Tensor q, Tensor k, Tensor v, Tensor weights) =>
        Capture(layer).SetAttention(input, q, k, v, weights);

    internal void RecordOutput(int layer, Tensor residual) => Capture(layer).SetOutput(residual);

    internal void RecordHeadOutputs(int layer, Tensor perHead) => Capture(layer).SetHeadOutputs(perHead);

    private LayerCapture Capture(int layer)
    {
        if (!_captures.TryGetValue(layer, out var capture))
        {
            capture = new LayerCapture(layer);
            _captures.Add(layer, capture);
        }

        return capture;
    }

    public void Dispose()
    {
        foreach (var capture in _captures.Values)
        {
            capture.Dispose();
        }

        _captures.Clear();
    }
}

/// <summary>One layer's recorded tensors (batch first).</summary>
public sealed class LayerCapture(int layer) : IDisposable
{
    public int Layer { get; } = layer;

    /// <summary>The attention's input: LayerNorm of the residual stream, (B, T, C).</summary>
    public Tensor? Input { get; private set; }

    public Tensor? Query { get; private set; } // (B, nh, T, hs)

    public Tensor? Key { get; private set; } // (B, nh, T, hs)

    public Tensor? Value { get; private set; } // (B, nh, T, hs)

    /// <summary>Softmax attention weights after the causal mask, before dropout: (B, nh, T, T).</summary>
    public Tensor? Weights { get; private set; }

    /// <summary>Each head's weighted sum of values, before the heads are joined and projected: (B, nh, T, hs).</summary>
    public Tensor? HeadOutputs { get; private set; }

    /// <summary>Residual stream after this block: (B, T, C).</summary>
    public Tensor? Output { get; private set; }

    internal void SetAttention(Tensor input, Tensor q, Tensor k, Tensor v, Tensor weights)
    {
        Input = Keep(input);
        Query = Keep(q);
        Key = Keep(k);
        Value = Keep(v);
        Weights = Keep(weights);
    }

    internal void SetOutput(Tensor residual) => Output = Keep(residual);

    internal void SetHeadOutputs(Tensor perHead) => HeadOutputs = Keep(perHead);

    // A detached clone outlives the caller's dispose scope.
    private static Tensor Keep(Tensor t) => t.detach().clone().DetachFromDisposeScope();

    public void Dispose()
    {
        Input?.Dispose();
        Query?.Dispose();
        Key?.Dispose();
        Value?.Dispose();
        Weights?.Dispose();
        HeadOutputs?.Dispose();
        Output?.Dispose();
    }
}
