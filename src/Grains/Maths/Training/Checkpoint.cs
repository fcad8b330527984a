using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Pipeline;
using InsideLLMs.Distributed.Maths.Tokenization;
using TorchSharp.Modules;

namespace InsideLLMs.Distributed.Maths.Training;

/// <summary>What a checkpoint says about itself, readable without loading any tensor.</summary>
/// <param name="Step">Steps completed; a resumed run continues with this 0-based step, whose batch and dropout
/// are functions of (seed, step), so it computes what the uninterrupted run would have.</param>
public sealed record CheckpointHeader(
    GptConfig Model,
    TrainingOptions Training,
    DatasetDescriptor Data,
    long Step,
    double? LastLoss,
    DateTimeOffset SavedAt);

/// <summary>A checkpoint read into memory and verified; apply it to a model and optimizer of the same shape.</summary>
public sealed class CheckpointData
{
    internal CheckpointData(CheckpointHeader header, ModelVocabulary vocabulary, byte[] parameters, byte[] optimizer)
    {
        Header = header;
        Vocabulary = vocabulary;
        _parameters = parameters;
        _optimizer = optimizer;
    }

    private readonly byte[] _parameters;
    private readonly byte[] _optimizer;

    public CheckpointHeader Header { get; }

    public ModelVocabulary Vocabulary { get; }

    /// <summary>Copies the stored weights into <paramref name="model"/>; all are checked before any is written.</summary>
    public void LoadParameters(GptStage model) => Checkpoint.ReadParameters(_parameters, model.named_parameters().ToArray());

    public void LoadOptimizer(StageWorker worker)
    {
        ArgumentNullException.ThrowIfNull(worker);
        using var reader = new BinaryReader(new MemoryStream(_optimizer));
        worker.ReadOptimizer(reader);
    }
}

/// <summary>
/// Checkpoint files: a magic tag, a JSON header, the vocabulary, the parameters by name, the optimizer state, and a
/// SHA-256 of all of it. Written to a temporary file and renamed, so a crash never leaves half a checkpoint behind.
/// </summary>
public static class Checkpoint
{
    private const int FormatVersion = 1;
    private static readonly byte[] Magic = "ILLMCKPT"u8.ToArray();
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false };

    public static void Save(string path, CheckpointHeader header, ModelVocabulary vocabulary, StageWorker worker)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(vocabulary);
        ArgumentNullException.ThrowIfNull(worker);
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(Magic);
            writer.Write(FormatVersion);
            writer.Write(JsonSerializer.Serialize(header, Json));
            vocabulary.Write(writer);
            WriteBlob(writer, w => TensorIO.WriteParameters(w, [.. worker.Model.named_parameters()]));
            WriteBlob(writer, worker.WriteOptimizer);
        }

        var hash = SHA256.HashData(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
        buffer.Write(hash);

        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temporary = full + ".tmp-" + Environment.ProcessId;
        File.WriteAllBytes(temporary, buffer.ToArray());
        File.Move(temporary, full, overwrite: true);
    }

    /// <exception cref="FileNotFoundException">No file at the path.</exception>
    /// <exception cref="InvalidDataException">Not a checkpoint, damaged, or of another format version.</exception>
    public static CheckpointData Read(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"No checkpoint at {path}.", path);
        }

        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < Magic.Length + 32 || !bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic))
        {
            throw new InvalidDataException($"{path} is not a checkpoint (no ILLMCKPT tag).");
        }

        var body = bytes.AsSpan(0, bytes.Length - 32);
        if (!SHA256.HashData(body).AsSpan().SequenceEqual(bytes.AsSpan(bytes.Length - 32)))
        {
            throw new InvalidDataException($"{path} is corrupt: its SHA-256 does not match its contents.");
        }

        try
        {
            using var reader = new BinaryReader(new MemoryStream(bytes, 0, body.Length), Encoding.UTF8);
            reader.ReadBytes(Magic.Length);
            var version = reader.ReadInt32();
            if (version != FormatVersion)
            {
                throw new InvalidDataException($"{path} has checkpoint format {version}; this build reads format {FormatVersion}.");
            }

            var header = JsonSerializer.Deserialize<CheckpointHeader>(reader.ReadString(), Json)
                ?? throw new InvalidDataException($"{path} has an empty header.");
            var vocabulary = ModelVocabulary.Read(reader);
            var parameters = ReadBlob(reader);
            var optimizer = ReadBlob(reader);
            return new CheckpointData(header, vocabulary, parameters, optimizer);
        }
        catch (Exception e) when (e is EndOfStreamException or JsonException or ArgumentException)
        {
            throw new InvalidDataException($"{path} is corrupt: {e.Message}", e);
        }
    }

    internal static void ReadParameters(byte[] blob, (string Name, Parameter Parameter)[] parameters)
    {
        using var reader = new BinaryReader(new MemoryStream(blob));
        TensorIO.ReadParameters(reader, parameters);
    }

    private static void WriteBlob(BinaryWriter writer, Action<BinaryWriter> write)
    {
        using var blob = new MemoryStream();
        using (var inner = new BinaryWriter(blob, Encoding.UTF8, leaveOpen: true))
        {
            write(inner);
        }

        writer.Write(blob.Length);
        writer.Write(blob.GetBuffer(), 0, (int)blob.Length);
    }

    private static byte[] ReadBlob(BinaryReader reader)
    {
        var length = reader.ReadInt64();
        if (length < 0 || length > reader.BaseStream.Length - reader.BaseStream.Position)
        {
            throw new InvalidDataException("A section of the checkpoint is longer than the file.");
        }

        return reader.ReadBytes((int)length);
    }
}
