namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>A parameter by its state-dict name (e.g. h.2.attn.c_attn.weight), for comparisons and inspection.</summary>
[GenerateSerializer, Immutable, Alias("NamedTensor")]
public sealed record NamedTensor([property: Id(0)] string Name, [property: Id(1)] TensorMessage Tensor);
