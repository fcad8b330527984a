namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>
/// One layer's gradient norm, before clipping. Layers are named after the state-dict: <c>embedding</c> (wte and wpe; wte
/// is also the output head, tied, and counted once), <c>h.{i}</c> for transformer block i, and <c>ln_f</c>, the final norm.
/// </summary>
[GenerateSerializer, Immutable, Alias("LayerGradientNorm")]
public sealed record LayerGradientNorm(
    [property: Id(0)] string Layer,
    [property: Id(1)] double Norm);
