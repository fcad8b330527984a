using System.Text;
using InsideLLMs.Distributed.Maths.Model;

namespace InsideLLMs.Distributed.Maths.Training;

/// <summary>
/// Moves a run's training state from one pipeline layout to another: the stage states of one replica (each stage's
/// parameters and AdamW moments, as <see cref="Pipeline.StageWorker.SaveState"/> writes them) are read into one model's
/// state by parameter name, and cut again for any other number of stages. Every replica holds the same bits, so the
/// new layout's replicas all start from these. The tied matrix is the embedding's: a last stage without the embedding
/// takes <c>lm_head.weight</c> and its moments from <c>wte.weight</c> (the two copies hold the same bits, as they take
/// the same step from the same combined gradient). Bytes in, bytes out: no tensor is made, nothing is rounded.
/// </summary>
public static class StageStateReshard
{
    private const string TiedCopyName = "lm_head.weight";
    private const string EmbeddingName = "wte.weight";

    /// <summary>
    /// The states of <paramref name="to"/> stages that continue exactly where the <paramref name="states"/> of one replica's
    /// stages (in stage order) are; the names each new stage needs, in its own order, come from <paramref name="stageNames"/>.
    /// </summary>
    /// <exception cref="InvalidDataException">The states are not one model's (a parameter missing or twice, steps that differ).</exception>
    public static IReadOnlyList<byte[]> Reshard(IReadOnlyList<byte[]> states, IReadOnlyList<IReadOnlyList<string>> stageNames)
    {
        ArgumentNullException.ThrowIfNull(states);
        ArgumentNullException.ThrowIfNull(stageNames);
        var whole = Merge(states);
        return [.. stageNames.Select((names, s) => Compose(whole, names, s))];
    }

    /// <summary>The parameter names of each stage of <paramref name="config"/> cut into <paramref name="stages"/>, in the order the stage holds them.</summary>
    public static IReadOnlyList<IReadOnlyList<string>> StageNames(GptConfig config, int stages, StageHead head = StageHead.Language)
    {
        ArgumentNullException.ThrowIfNull(config);
        return [.. StageSpec.Partition(config, stages).Select(spec =>
        {
            using var stage = new GptStage(config, spec, seed: 0, head);
            return (IReadOnlyList<string>)[.. stage.named_parameters().Select(p => p.name)];
        })];
    }

    /// <summary>One model's state, by name: each parameter's tensor record and its two moments, and the optimizer's step count.</summary>
    private sealed record Whole(Dictionary<string, (byte[] Value, byte[] M, byte[] V)> Parameters, long Step);

    private static Whole Merge(IReadOnlyList<byte[]> states)
    {
        if (states.Count == 0)
        {
            throw new InvalidDataException("No stage states to reshard.");
        }

        var parameters = new Dictionary<string, (byte[] Value, byte[] M, byte[] V)>(StringComparer.Ordinal);
        long? step = null;
        for (var s = 0; s < states.Count; s++)
        {
            using var reader = new BinaryReader(new MemoryStream(states[s]), Encoding.UTF8);
            var values = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            var count = reader.ReadInt32();
            for (var i = 0; i < count; i++)
            {
                var name = reader.ReadString();
                values[name] = TensorRecord(reader);
            }

            var stageStep = reader.ReadInt64();
            if (step is { } first && first != stageStep)
            {
                throw new InvalidDataException($"Stage {s}'s optimizer has taken {stageStep} steps but stage 0's {first}: the states are not of one step.");
            }

            step = stageStep;
            var slots = reader.ReadInt32();
            for (var i = 0; i < slots; i++)
            {
                var name = reader.ReadString();
                var (m, v) = (TensorRecord(reader), TensorRecord(reader));
                if (name == TiedCopyName && states.Count > 1)
                {
                    continue; // the embedding's copy: the first stage holds the same bits as wte.weight
                }

                if (!values.TryGetValue(name, out var value) || !parameters.TryAdd(name, (value, m, v)))
                {
                    throw new InvalidDataException($"Parameter '{name}' of stage {s} is {(values.ContainsKey(name) ? "held by two stages" : "missing its value")}.");
                }
            }
        }

        return new Whole(parameters, step!.Value);
    }

    private static byte[] Compose(Whole whole, IReadOnlyList<string> names, int stage)
    {
        var sources = names.Select(name => name == TiedCopyName && !whole.Parameters.ContainsKey(TiedCopyName) ? EmbeddingName : name).ToArray();
        var missing = sources.FirstOrDefault(source => !whole.Parameters.ContainsKey(source));
        if (missing is not null)
        {
            throw new InvalidDataException($"New stage {stage} needs '{missing}', which no old stage holds.");
        }

        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(names.Count);
            for (var i = 0; i < names.Count; i++)
            {
                writer.Write(names[i]);
                writer.Write(whole.Parameters[sources[i]].Value);
            }

            writer.Write(whole.Step);
            writer.Write(names.Count);
            for (var i = 0; i < names.Count; i++)
            {
                writer.Write(names[i]);
                writer.Write(whole.Parameters[sources[i]].M);
                writer.Write(whole.Parameters[sources[i]].V);
            }
        }

        return buffer.ToArray();
    }

    /// <summary>One tensor as <see cref="TensorIO.Write"/> wrote it (rank, dimensions, byte count, bytes), copied whole.</summary>
    private static byte[] TensorRecord(BinaryReader reader)
    {
        var start = reader.BaseStream.Position;
        var rank = reader.ReadInt32();
        if (rank is < 0 or > 8)
        {
            throw new InvalidDataException($"A stored tensor claims {rank} dimensions.");
        }

        reader.BaseStream.Seek(rank * sizeof(long), SeekOrigin.Current);
        var length = reader.ReadInt32();
        reader.BaseStream.Seek(length, SeekOrigin.Current);
        var end = reader.BaseStream.Position;
        if (end > reader.BaseStream.Length)
        {
            throw new InvalidDataException("The state ends inside a tensor.");
        }

        reader.BaseStream.Position = start;
        return reader.ReadBytes((int)(end - start));
    }
}
