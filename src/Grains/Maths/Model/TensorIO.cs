using System.Runtime.InteropServices;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Maths.Model;

/// <summary>float32 tensors to and from bytes: for checkpoints here, and for messages between grains.</summary>
public static class TensorIO
{
    /// <summary>The tensor's float32 values as bytes, row-major (what travels in a message, with its shape).</summary>
    public static byte[] ToBytes(Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        using var scope = NewDisposeScope(); // holds the intermediate wrappers until the copy is done
        var contiguous = tensor.detach().to(ScalarType.Float32).contiguous();
        var bytes = new byte[contiguous.numel() * sizeof(float)];
        contiguous.bytes.CopyTo(bytes);
        return bytes;
    }

    /// <summary>A new float32 tensor of the given shape over a copy of the bytes (reinterpreted, not converted).</summary>
    public static Tensor FromBytes(ReadOnlySpan<byte> bytes, ReadOnlySpan<long> shape)
    {
        long count = 1;
        foreach (var dimension in shape)
        {
            count *= dimension;
        }

        if (count * sizeof(float) != bytes.Length)
        {
            throw new InvalidDataException($"{bytes.Length} bytes cannot fill a float32 tensor of shape [{string.Join(", ", shape.ToArray())}].");
        }

        var values = MemoryMarshal.Cast<byte, float>(bytes).ToArray();
        return tensor(values, shape.ToArray());
    }

    public static void Write(BinaryWriter writer, Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(tensor);
        writer.Write((int)tensor.dim());
        foreach (var dimension in tensor.shape)
        {
            writer.Write(dimension);
        }

        var bytes = ToBytes(tensor);
        writer.Write(bytes.Length);
        writer.Write(bytes);
    }

    /// <exception cref="InvalidDataException">The stored shape differs from <paramref name="expectedShape"/>.</exception>
    public static Tensor Read(BinaryReader reader, long[] expectedShape)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var rank = reader.ReadInt32();
        if (rank is < 0 or > 8)
        {
            throw new InvalidDataException($"A stored tensor claims {rank} dimensions.");
        }

        var shape = new long[rank];
        for (var i = 0; i < rank; i++)
        {
            shape[i] = reader.ReadInt64();
        }

        if (!shape.SequenceEqual(expectedShape))
        {
            throw new InvalidDataException(
                $"A stored tensor has shape [{string.Join(", ", shape)}] where [{string.Join(", ", expectedShape)}] was expected.");
        }

        var length = reader.ReadInt32();
        var bytes = reader.ReadBytes(length);
        if (bytes.Length != length)
        {
            throw new InvalidDataException("The file ends inside a tensor.");
        }

        return FromBytes(bytes, shape);
    }

    /// <summary>Named parameters: a count, then each name and tensor in order (checkpoints and stage state use it).</summary>
    public static void WriteParameters(BinaryWriter writer, IReadOnlyList<(string Name, Parameter Parameter)> parameters)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(parameters);
        writer.Write(parameters.Count);
        foreach (var (name, parameter) in parameters)
        {
            writer.Write(name);
            Write(writer, parameter);
        }
    }

    /// <summary>
    /// Reads what <see cref="WriteParameters"/> wrote into the same parameters. Every name and shape is checked, and
    /// <paramref name="readRest"/> (e.g. the optimizer state that follows) has run, before any parameter changes.
    /// </summary>
    /// <exception cref="InvalidDataException">Another count, name or shape than these parameters have.</exception>
    public static void ReadParameters(BinaryReader reader, IReadOnlyList<(string Name, Parameter Parameter)> parameters, Action<BinaryReader>? readRest = null)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(parameters);
        var count = reader.ReadInt32();
        if (count != parameters.Count)
        {
            throw new InvalidDataException($"The stored state holds {count} parameters; this model has {parameters.Count}.");
        }

        using var scope = NewDisposeScope();
        var loaded = new List<Tensor>(count);
        try
        {
            foreach (var (name, parameter) in parameters)
            {
                var stored = reader.ReadString();
                if (stored != name)
                {
                    throw new InvalidDataException($"The stored state has '{stored}' where this model has '{name}'.");
                }

                loaded.Add(Read(reader, parameter.shape));
            }

            readRest?.Invoke(reader);
            using var _ = no_grad();
            for (var i = 0; i < parameters.Count; i++)
            {
                parameters[i].Parameter.copy_(loaded[i]);
            }
        }
        finally
        {
            foreach (var tensor in loaded)
            {
                tensor.Dispose();
            }
        }
    }
}
