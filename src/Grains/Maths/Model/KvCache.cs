using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Maths.Model;

/// <summary>
/// Keys and values of the tokens already seen, per layer, so generating the next token runs one position instead of
/// the whole context again. Positions are absolute: a cache holds at most the model's context length.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Dictionary<int, (Tensor Keys, Tensor Values)> _layers = [];

    /// <summary>Tokens whose keys and values are cached (the position the next token takes).</summary>
    public int Length { get; private set; }

    /// <summary>The layer's keys and values with the new ones appended: (B, nh, Length + T, hs) each.</summary>
    internal (Tensor Keys, Tensor Values) Append(int layer, Tensor keys, Tensor values)
    {
        if (_layers.TryGetValue(layer, out var cached))
        {
            var joinedKeys = cat([cached.Keys, keys], dim: 2).DetachFromDisposeScope(); // (B, nh, L + T, hs)
            var joinedValues = cat([cached.Values, values], dim: 2).DetachFromDisposeScope();
            cached.Keys.Dispose();
            cached.Values.Dispose();
            _layers[layer] = (joinedKeys, joinedValues);
        }
        else
        {
            _layers[layer] = (keys.detach().clone().DetachFromDisposeScope(), values.detach().clone().DetachFromDisposeScope());
        }

        return _layers[layer];
    }

    /// <summary>Called once per forward pass of a stage, after its blocks appended <paramref name="tokens"/> positions.</summary>
    internal void Advance(int tokens) => Length += tokens;

    public void Clear()
    {
        foreach (var (keys, values) in _layers.Values)
        {
            keys.Dispose();
            values.Dispose();
        }

        _layers.Clear();
        Length = 0;
    }

    public void Dispose() => Clear();
}
