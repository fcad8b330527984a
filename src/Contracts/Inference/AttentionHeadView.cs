namespace InsideLLMs.Distributed.Contracts.Inference;

/// <param name="Weights">Row i: how much token i takes from each token j (zero for j &gt; i); each row sums to 1.</param>
[GenerateSerializer, Immutable, Alias("AttentionHeadView")]
public sealed record AttentionHeadView([property: Id(0)] int Layer, [property: Id(1)] int Head, [property: Id(2)] float[][] Weights);
