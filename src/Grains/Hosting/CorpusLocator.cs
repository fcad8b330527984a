using InsideLLMs.Distributed.Maths.Training;

namespace InsideLLMs.Distributed.Grains.Hosting;

/// <summary>
/// Where a run's corpus may come from on this silo: the built-in corpus by name, or a file under the configured data
/// directory, named relative to it. A path that leaves the directory (through <c>..</c>, an absolute path or a
/// symbolic link anywhere along it), a file too large, or a file that is not UTF-8 text is refused with the reason.
/// </summary>
public sealed class CorpusLocator(AdmissionOptions options)
{
    /// <summary>The built-in corpus's name, or the full path of the file the name resolves to.</summary>
    /// <exception cref="ArgumentException">The corpus cannot be read from here, and why.</exception>
    public string Resolve(string corpus)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        if (corpus == TrainingPreset.SyntheticCorpusName)
        {
            return corpus;
        }

        if (options.DataDirectory is not { } root)
        {
            throw new ArgumentException(
                $"The corpus '{corpus}' is not a built-in corpus ({TrainingPreset.SyntheticCorpusName}), and this silo reads corpus files only from a data directory: set Data:Directory.");
        }

        var path = Path.GetFullPath(Path.Combine(root, corpus));
        if (!Inside(root, path))
        {
            throw new ArgumentException($"The corpus '{corpus}' is outside the data directory {root}; name a file inside it.");
        }

        // Every step from the root down must be a real directory or file, not a link that could lead out.
        var current = root;
        foreach (var part in Path.GetRelativePath(root, path).Split(Path.DirectorySeparatorChar))
        {
            current = Path.Combine(current, part);
            var info = new FileInfo(current);
            if (info.LinkTarget is not null)
            {
                throw new ArgumentException($"The corpus '{corpus}' goes through the symbolic link {current}; links are not followed out of the data directory {root}.");
            }
        }

        var file = new FileInfo(path);
        if (!file.Exists)
        {
            throw new ArgumentException($"The corpus file '{corpus}' does not exist in the data directory {root}.");
        }

        if (file.Length > options.MaxCorpusBytes)
        {
            throw new ArgumentException(
                $"The corpus file '{corpus}' is {file.Length:N0} bytes; this silo reads corpus files of at most {options.MaxCorpusBytes:N0} bytes (Data:MaxCorpusBytes).");
        }

        return path;
    }

    private static bool Inside(string root, string path)
    {
        var relative = Path.GetRelativePath(root, path);
        return relative != "." && !relative.StartsWith("..", StringComparison.Ordinal) && !Path.IsPathRooted(relative);
    }
}
