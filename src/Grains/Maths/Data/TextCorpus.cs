using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Unicode;

namespace InsideLLMs.Distributed.Maths.Data;

/// <summary>Any text as one long stream without documents, like nanoGPT's shakespeare_char.</summary>
public sealed class TextCorpus
{
    private TextCorpus(string name, string text, string sha256)
    {
        Name = name;
        Text = text;
        Sha256 = sha256;
    }

    /// <summary>The file name, or the name the caller gave.</summary>
    public string Name { get; }

    public string Text { get; }

    /// <summary>Lower-case hex SHA-256 of the text's UTF-8 bytes (the file's bytes for <see cref="FromFile"/>).</summary>
    public string Sha256 { get; }

    /// <exception cref="InvalidDataException">The file is not valid UTF-8 (the message gives the byte offset) or holds no text.</exception>
    public static TextCorpus FromFile(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var bytes = File.ReadAllBytes(path);
        var text = DecodeStrict(bytes, path);
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new InvalidDataException($"The corpus file '{path}' is empty or holds only whitespace.");
        }

        return new TextCorpus(Path.GetFileName(path), text, Hash(bytes));
    }

    /// <exception cref="ArgumentException">The text is empty or whitespace.</exception>
    public static TextCorpus FromText(string name, string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(text);
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new ArgumentException($"The corpus '{name}' is empty or holds only whitespace.", nameof(text));
        }

        return new TextCorpus(name, text, HashOf(text));
    }

    public static string HashOf(string text) => Hash(Encoding.UTF8.GetBytes(text));

    private static string Hash(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static string DecodeStrict(byte[] bytes, string path)
    {
        var chars = new char[bytes.Length];
        var status = Utf8.ToUtf16(bytes, chars, out var bytesRead, out var charsWritten, replaceInvalidSequences: false);
        if (status != OperationStatus.Done)
        {
            throw new InvalidDataException(
                $"The corpus file '{path}' is not valid UTF-8: invalid byte 0x{bytes[bytesRead]:X2} at byte offset {bytesRead}.");
        }

        var nul = Array.IndexOf(chars, '\0', 0, charsWritten);
        if (nul >= 0)
        {
            // Valid UTF-8, but no text file holds NUL: this is a binary file (an archive, an image, a model).
            throw new InvalidDataException($"The corpus file '{path}' holds a NUL character at character {nul}: it is a binary file, not text.");
        }

        return new string(chars, 0, charsWritten);
    }
}
