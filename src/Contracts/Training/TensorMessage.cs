namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>
/// A float32 tensor on the wire: its bytes (row-major) and its shape. Orleans copies byte[] as one block;
/// a float[] would be serialised element by element, 5-7x slower (PLATFORM.md).
/// </summary>
[GenerateSerializer, Immutable, Alias("TensorMessage")]
public sealed record TensorMessage([property: Id(0)] byte[] Data, [property: Id(1)] long[] Shape);
